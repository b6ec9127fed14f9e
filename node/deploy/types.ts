import type { SfJson, SfJsonObject } from '../sf/sfjson.ts'
import type { ComponentStatus, TerminationRecord } from '../engine/types.ts'
import type { PrepareAuth, SignedRequest } from './auth.ts'

// The seams and the messages of deploy coordination. The coordinator and participant cores see only these: a
// request/response transport to a peer id, a Clock, a host resolver, and a narrow face of the local engine. The
// libp2p adapter (node/mesh/rpc.ts) and the in-memory network of simulations/deploy carry the same messages.

/** sfProcessHost (a host name or an address) -> peer id; undefined when no peer (or more than one) answers to it. */
export type HostResolver = (nameOrAddress: string) => string | undefined

/** One subtree deployed on one peer. Paths are `:`-separated attribute names from the pool root ("" = root). */
export interface PartPlan {
  path: string
  /** The host as the description (or `--at`, or the entry peer) names it. */
  host: string
  peer: string
  /** Path of the parent component (absent for the root part). */
  parentPath?: string
  parentPeer?: string
  /** The part's description; each remote child is replaced by a placeholder (see split.ts). */
  config: SfJsonObject
  /** The parts directly below this one, in definition order. */
  remoteChildren: RemoteChild[]
  /** sfSyncTerminate of the component that holds each remote child (true: one by one, in reverse order). */
  syncTerminate: boolean
  /** sfLivenessDelay (ms, 0 = none) and sfLivenessFactor of this part's root, as ATTRIB would find them. */
  livenessDelayMs: number
  livenessFactor: number
}

export interface RemoteChild { path: string, host: string, peer: string }

export interface SplitPlan {
  pool: string
  /** The parts in definition (pre-)order: a parent part always comes before its children. */
  parts: PartPlan[]
}

export interface Claims {
  names: string[]
  ips: string[]
  /** The pool's own name, claimed by the deploy that creates it. */
  pool?: string
}

// ---- messages -------------------------------------------------------------------------------------------------

export type DeployRequest =
  /** `auth`: the operator's signature and the proofs of these parts (auth.ts); absent from an unsigned deploy. */
  | { type: 'prepare', deployId: string, pool: string, coordinator: string, parts: PartPlan[], participants: string[], leaseMs: number, auth?: PrepareAuth, replace?: { epoch: number } }
  /** `waitMs` (commit, abort, terminate-part): answer `pending` after that long; the work goes on, and the same
   * request sent again waits for the same work (long-poll: no request outlives the transport's own timeout). */
  | { type: 'commit', deployId: string, pool: string, waitMs?: number }
  | { type: 'abort', deployId: string, pool: string, reason: string, waitMs?: number }
  /** Claims at one holder: every key of `claims` this peer holds for the mesh (one message per holder). */
  | { type: 'claim', deployId: string, pool: string, claims: Claims, leaseMs: number }
  | { type: 'claim-confirm', deployId: string, pool: string, claims: Claims }
  | { type: 'claim-release', deployId: string, pool: string, claims: Claims }
  /** Terminate one part (and, first, its remote children). `fromParent`: the parent asked; do not report upwards.
   * `auth`: the operator's signed terminate, when the coordinator sends it for `sdpeer terminate`.
   * `component`: only that component of the part (and its children), as `sdpeer terminate POOL:PATH` asks.
   * `cascade: false`: not its remote children (the pool's terminate tells every part itself, some owners being gone). */
  | { type: 'terminate-part', pool: string, path: string, kind: 'normal' | 'abnormal', reason: string, fromParent: boolean, waitMs?: number, auth?: SignedRequest, component?: string, cascade?: false }
  | { type: 'status', pool: string }
  | { type: 'get', pool: string, path: string, attr?: string }
  | { type: 'set', pool: string, path: string, attr: string, value: SfJson, auth?: SignedRequest }
  /** A LAZY reference whose target lives on another peer, from the component at `path` (a path of the pool):
   * either one attribute (`attr`), or the rest of a reference (`ref`, as text) with the hops taken so far and the
   * time left (ms) for the whole lookup (see remote-refs.ts). */
  | { type: 'resolve', pool: string, path: string, attr?: string, ref?: string, hops?: number, budgetMs?: number }
  /** A part's termination record, sent from the child part's peer to its parent's peer. */
  | { type: 'termination', pool: string, path: string, record: TerminationRecord }
  /** Parent -> remote child liveness (sfPing across peers). */
  | { type: 'ping', pool: string, path: string }
  /** A part whose parent's peer stopped pinging, reported to the pool's coordinator. */
  | { type: 'orphan', pool: string, path: string, peer: string, parentPeer: string }
  | { type: 'registry-put', record: PoolRecordView }
  | { type: 'registry-list' }

export type DeployResponse =
  | { type: 'prepared', ok: true }
  | { type: 'prepared', ok: false, reason: string }
  | { type: 'committed', ok: true, components: ComponentStatus[] }
  | { type: 'committed', ok: false, reason: string }
  /** The keys refused, each with the pool holding it; every other key of the request was granted. */
  | { type: 'claim', refused: Array<{ kind: 'name' | 'ip' | 'pool', value: string, heldBy: string }> }
  | { type: 'status', components: ComponentStatus[], termination?: TerminationRecord }
  | { type: 'value', value: SfJson }
  | { type: 'pong', alive: boolean }
  | { type: 'orphan', decision: OrphanDecision }
  | { type: 'registry', records: PoolRecordView[] }
  | { type: 'ok' }
  | { type: 'pending' }

/** Request/response to a peer id. Contract: rejects with DeployTransportError on timeout, unreachable peer or a
 * handler error; never resolves after `timeoutMs`. The message object is the caller's; implementations copy it. */
export interface DeployTransport {
  request (peer: string, req: DeployRequest, options: { timeoutMs: number, signal?: AbortSignal }): Promise<DeployResponse>
}

export type DeployHandler = (from: string, req: DeployRequest) => Promise<DeployResponse>

// ---- the participant's face of the local engine ---------------------------------------------------------------

export interface PrepareVerdict { ok: boolean, reason?: string }

/**
 * What a participant needs from its host's engine. The daemon adapts PoolEngine to this; the simulation fakes it.
 * Parts are keyed by (pool, part path); one peer may hold several parts of one pool.
 */
export interface PartEngine {
  /**
   * Validates the parts and reserves their memory/vcpus under `deployId`. Must not deploy anything. `epoch`: the
   * placement generation of the parts' VMs (1 at deploy, +1 per re-placement; the host's admission fences by it).
   */
  prepare (deployId: string, pool: string, parts: PartPlan[], options?: { epoch?: number }): Promise<PrepareVerdict>
  /** Gives back what prepare reserved (abort or lease expiry). Idempotent. */
  release (deployId: string): void
  /** Deploys and starts the parts (storage first, then the domain), turning the reservation into use. */
  deploy (deployId: string, pool: string, parts: PartPlan[], options?: { signal?: AbortSignal }): Promise<ComponentStatus[]>
  /** Terminates one part's local components (children in reverse order). Resolves when they are down. */
  /** Resolves to the part's final component states when the engine forgets a terminated part at once. */
  terminate (pool: string, path: string, record: TerminationRecord): Promise<ComponentStatus[] | undefined | void>
  /**
   * Terminates one component of a part held here (`path` of the whole pool) and its local children; its parent's
   * sfSyncTerminate decides whether the parent ends too. Optional: engines without it refuse component terminates.
   */
  terminateComponent? (pool: string, path: string, record: TerminationRecord): Promise<void>
  status (pool: string, path: string): ComponentStatus[]
  get (pool: string, path: string, attr?: string): SfJson
  set (pool: string, path: string, attr: string, value: SfJson): void
  /** `get` that follows LAZY references to other peers (through the router given to `connect`). Optional. */
  read? (pool: string, path: string, attr?: string): Promise<SfJson>
  /** Resolves reference text from the component at `path` (of a part held here), for another peer. Optional. */
  resolveRef? (pool: string, path: string, ref: string, options: { hops: number, budgetMs?: number }): Promise<SfJson>
  /** Gives the engine the way to other parts' owners (DeployPeer calls it once). Optional. */
  connect? (router: { resolve: (pool: string, path: string, ref: string, options: { hops: number, budgetMs?: number, signal?: AbortSignal }) => Promise<SfJson> }): void
  /**
   * A part the engine recovered from its state dir at a restart, which the pool record still places here: taken
   * back, its domains counted in the host's admission again at `epoch`, its end reported like any part's. A refusal
   * (the host is fuller than the part) is reported, the part runs on regardless. Optional.
   */
  recovered? (pool: string, plan: PartPlan, epoch: number): PrepareVerdict
  /** A part's root ended on its own (a domain died, a child failed): the engine calls this once per part. */
  onPartTerminated (listener: (pool: string, path: string, record: TerminationRecord) => void): () => void
}

// ---- orphans: the hook the scheduler plugs into ---------------------------------------------------------------

export interface OrphanReport {
  pool: string
  /** The part that lost its parent. */
  path: string
  /** The peer holding it, and the parent's peer that stopped pinging. */
  peer: string
  parentPeer: string
}

/**
 * 'terminate': SmartFrog's answer (the child ends, abnormal). 'keep': it runs on (the scheduler re-parents it).
 * 'wait': ask again at the next missed ping (the parent's part is being re-placed, or its host is not declared dead
 * yet). `{ reparent }`: the parent's part runs on that peer now (re-placed at a higher epoch); follow it.
 */
export type OrphanDecision = 'terminate' | 'keep' | 'wait' | { reparent: string }

/** Runs on the pool's coordinator (first live participant in HRW order). */
export type OrphanPolicy = (report: OrphanReport) => Promise<OrphanDecision>

// ---- the pool registry ----------------------------------------------------------------------------------------

export type PoolState = 'preparing' | 'committing' | 'running' | 'terminating' | 'terminated' | 'failed'

export interface PoolRecordView {
  pool: string
  /** The peer that took the deploy and ran its two phases. */
  entry: string
  deployId: string
  /** Every part with its owner, in definition order. `epoch`, `placement`, `reason`: see PoolVmView (absent: 1, running). */
  parts: Array<{ path: string, host: string, peer: string, parentPath?: string, epoch?: number, placement?: 'reserved' | 'running' | 'failed', reason?: string }>
  /** The pool's participants (entry and owners, then every host a VM was re-placed onto); grows only. */
  participants?: string[]
  /** The parts that are one VM each: what the pool's coordinator re-places (scheduled) or reports lost (pinned). */
  vms?: PoolVmView[]
  /** Every other part's plan (the root, compounds on a host of their own, pinned VMs): see part-plans.ts. */
  partPlans?: PoolPartView[]
  claims: Claims
  state: PoolState
  /** Grows with every change; the higher version wins; equal versions are the same record. */
  version: number
  reason?: string
}

/**
 * A part that is one VM, as the deploy recorded it. A scheduled one (a Schedulee's child the scheduler placed) keeps
 * its plan as first deployed and the operator's proof of it, so any participant can prepare it on another host
 * when its host dies (node/deploy/replacement.ts); a pinned one (its own sfProcessHost) is only reported failed.
 */
export interface PoolVmView {
  path: string
  pinned: boolean
  memoryMiB: number
  vcpus: number
  /** The Scheduler's `hosts` (absent: any live host). */
  hosts?: string[]
  /** Its base image as the description names it (`image:NAME`, a path): re-placement prefers hosts holding it. */
  image?: string
  /** The driver it needs and the query its host must match (`requires`): re-placement keeps the constraints it was placed by. */
  driver?: string
  requires?: string
  plan?: PartPlan
  auth?: PrepareAuth
}

/** A part that is not a scheduled VM, as deployed, with the operator's proof of it. */
export interface PoolPartView {
  path: string
  plan: PartPlan
  auth?: PrepareAuth
}

// ---- timings ----------------------------------------------------------------------------------------------------

export interface DeployTimings {
  /** One request's bound (prepare, claim, abort, terminate-part, status...). */
  requestTimeoutMs: number
  /** Sends of an idempotent request before giving up on a peer. */
  attempts: number
  /** A prepared owner that hears neither commit nor abort this long after prepare releases everything. */
  prepareLeaseMs: number
  /** Bound on one owner's commit (deploy + start: includes hypervisor time), abort or part termination. */
  commitTimeoutMs: number
  /** Long-poll: how long an owner holds a commit/abort/terminate request before answering `pending`. */
  longPollMs: number
  /** How long an aborted deploy id is remembered, so a late prepare of it is refused. */
  tombstoneMs: number
}

export const DEFAULT_TIMINGS: DeployTimings = {
  requestTimeoutMs: 3000,
  attempts: 3,
  prepareLeaseMs: 30_000,
  commitTimeoutMs: 180_000,
  longPollMs: 1000,
  tombstoneMs: 600_000
}
