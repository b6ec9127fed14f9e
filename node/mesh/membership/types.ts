import type { MemberStatus, MembershipMessage } from '../../../protocol/membership.ts'
import type { Clock } from '../../seams/clock.ts'
import type { Random } from './random.ts'

export type { MemberStatus, MembershipMessage }

/** How to reach a member: its id (the libp2p peer id in the daemon) and its addresses (multiaddrs). */
export interface MemberRef {
  id: string
  addrs: string[]
}

/**
 * The narrow seam the membership core runs over. The libp2p adapter implements it in the daemon; the in-memory
 * network (with loss, delay, duplication, partitions) in simulations. Nothing here may throw: a failure to
 * deliver is a lost datagram, which SWIM is built to tolerate.
 */
export interface MembershipTransport {
  /**
   * Sends one message, like a datagram: it may be lost, delayed or duplicated, never reported. Does not block;
   * the transport owns `msg` after the call (the core never mutates a message once sent). A ref with an empty
   * id (a bootstrap address whose peer is not known yet) is reached by its addresses.
   */
  send (to: MemberRef, msg: MembershipMessage): void
  /**
   * A direct liveness probe (libp2p ping in the daemon). Calls `done` exactly once and never synchronously:
   * true when the member answered within `timeoutMs`, false otherwise (no answer, refused, or timed out).
   */
  probe (to: MemberRef, timeoutMs: number, done: (ok: boolean) => void): void
  /** Registers the one receiver of incoming messages; `from` is the authenticated sender id. */
  onMessage (handler: (from: string, msg: MembershipMessage) => void): void
}

export interface MembershipConfig {
  /** Time between two direct probes (one member probed per interval). */
  probeIntervalMs: number
  /** How long a direct probe may take before we ask others to try (indirect probes). */
  probeTimeoutMs: number
  /** How many members are asked to probe indirectly before suspicion (SWIM's k). */
  indirectChecks: number
  /** Minimum suspicion timeout = suspicionMult × log10(N) × probeInterval. */
  suspicionMult: number
  /** Maximum suspicion timeout = suspicionMaxTimeoutMult × minimum (with no confirmations). */
  suspicionMaxTimeoutMult: number
  /** Each update is gossiped retransmitMult × log10(N+1) times. */
  retransmitMult: number
  gossipIntervalMs: number
  /** Members gossiped to per gossip tick. */
  gossipNodes: number
  /** Dead members keep receiving gossip this long, so a paused member learns it was declared dead and refutes. */
  gossipToTheDeadMs: number
  /** Full state sync with one random member, scaled up beyond 32 members. */
  pushPullIntervalMs: number
  /** How often a dead member or a bootstrap address is tried again, so split halves find each other. */
  reconnectIntervalMs: number
  /** Lifeguard: levels of the local health multiplier. */
  awarenessMaxMultiplier: number
  /** Updates piggy-backed on one message. */
  maxUpdatesPerMessage: number
}

/**
 * Defaults for a LAN of hypervisor hosts, tuned so a killed peer is declared dead by all within 5 s at N = 20
 * (memberlist's LAN defaults need about 11 s at N = 50): probe every 500 ms, suspicion 3 × log10(N) × 500 ms.
 */
export const DEFAULT_MEMBERSHIP_CONFIG: MembershipConfig = {
  probeIntervalMs: 500,
  probeTimeoutMs: 250,
  indirectChecks: 5,
  suspicionMult: 3,
  suspicionMaxTimeoutMult: 4,
  retransmitMult: 4,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  gossipToTheDeadMs: 15_000,
  pushPullIntervalMs: 30_000,
  reconnectIntervalMs: 5_000,
  awarenessMaxMultiplier: 8,
  maxUpdatesPerMessage: 32
}

export interface MemberInfo {
  id: string
  addrs: string[]
  status: MemberStatus
  incarnation: number
  /** Clock time of the last status change. */
  since: number
  /** Why a dead member is dead: 'left' when it said so itself. */
  left?: boolean
}

export type MembershipEvent =
  | { type: 'join', member: MemberInfo }
  | { type: 'alive', member: MemberInfo }
  | { type: 'suspect', member: MemberInfo }
  | { type: 'dead', member: MemberInfo }
  | { type: 'refute', incarnation: number }

export interface MembershipInit {
  self: MemberRef
  transport: MembershipTransport
  clock: Clock
  random: Random
  /** Members (or bare addresses, id '') to join through; retried while we know nobody alive. */
  bootstrap?: MemberRef[]
  config?: Partial<MembershipConfig>
}
