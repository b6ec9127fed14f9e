import type { Clock, Timer } from '../../node/seams/clock.ts'
import type { MemberRef, MembershipTransport } from '../../node/mesh/membership/types.ts'
import { seededRandom } from '../../node/mesh/membership/random.ts'
import type { Random } from '../../node/mesh/membership/random.ts'
import { membershipMessageSize } from '../../protocol/membership.ts'
import type { MembershipMessage } from '../../protocol/membership.ts'
import type { VirtualClock } from './virtual-clock.ts'

// An in-memory network for the membership core, in the manner of memberlist's MockNetwork: one explicit object
// per test (no module state), seeded, with loss, delay and jitter, duplication, partitions, killed and paused
// nodes. Messages are encoded and decoded sizes counted, so bandwidth figures are those of the real codec.

export interface NetworkOptions {
  seed: number
  /** Probability that one message (or one leg of a probe) is lost. */
  loss?: number
  /** One-way delay: minDelayMs plus a uniform jitter up to jitterMs. */
  minDelayMs?: number
  jitterMs?: number
  /** Probability that a message is delivered twice. */
  duplicate?: number
  /** Bytes counted for one direct probe leg (libp2p ping: 32 bytes + yamux/noise framing). */
  probeBytes?: number
}

interface NodeState {
  id: string
  handler?: (from: string, msg: MembershipMessage) => void
  killed: boolean
  paused: boolean
  /** Work that arrived while paused (timers and messages), run in order on resume, as SIGSTOP would. */
  deferred: Array<() => void>
  sentMessages: number
  sentBytes: number
}

export interface NodeStats { sentMessages: number, sentBytes: number }

export class InMemoryNetwork {
  readonly clock: VirtualClock
  readonly #random: Random
  readonly #opts: Required<Omit<NetworkOptions, 'seed'>>
  readonly #nodes = new Map<string, NodeState>()
  #groups: Map<string, number> | undefined

  constructor (clock: VirtualClock, options: NetworkOptions) {
    this.clock = clock
    this.#random = seededRandom(options.seed ^ 0x5eed)
    this.#opts = { loss: 0, minDelayMs: 1, jitterMs: 4, duplicate: 0, probeBytes: 120, ...options }
  }

  setLoss (loss: number): void { this.#opts.loss = loss }

  /** Adds a node and returns its transport and its own clock (which stops while the node is paused). */
  attach (id: string): { transport: MembershipTransport, clock: Clock } {
    const node: NodeState = { id, killed: false, paused: false, deferred: [], sentMessages: 0, sentBytes: 0 }
    this.#nodes.set(id, node)
    return { transport: this.#transport(node), clock: this.#nodeClock(node) }
  }

  kill (id: string): void { this.#node(id).killed = true }

  pause (id: string): void { this.#node(id).paused = true }

  resume (id: string): void {
    const node = this.#node(id)
    node.paused = false
    const work = node.deferred.splice(0)
    for (const fn of work) if (!node.killed && !node.paused) fn()
  }

  /** Splits the network: nodes in different groups cannot reach each other; nodes in no group reach nobody. */
  partition (groups: string[][]): void {
    this.#groups = new Map()
    groups.forEach((g, i) => { for (const id of g) this.#groups?.set(id, i) })
  }

  heal (): void { this.#groups = undefined }

  stats (id: string): NodeStats {
    const n = this.#node(id)
    return { sentMessages: n.sentMessages, sentBytes: n.sentBytes }
  }

  #node (id: string): NodeState {
    const n = this.#nodes.get(id)
    if (n == null) throw new Error(`no node ${id} in this network`)
    return n
  }

  #reachable (from: string, to: string): boolean {
    if (this.#groups == null) return true
    const a = this.#groups.get(from); const b = this.#groups.get(to)
    return a != null && a === b
  }

  #delay (): number { return this.#opts.minDelayMs + this.#random.next() * this.#opts.jitterMs }
  #lost (): boolean { return this.#random.next() < this.#opts.loss }

  /** Runs `fn` on `node` now, or on resume when paused; never on a killed node. */
  #run (node: NodeState, fn: () => void): void {
    if (node.killed) return
    if (node.paused) { node.deferred.push(fn); return }
    fn()
  }

  #nodeClock (node: NodeState): Clock {
    const clock = this.clock
    return {
      now: () => clock.now(),
      setTimeout: (fn: () => void, ms: number): Timer => clock.setTimeout(() => { this.#run(node, fn) }, ms),
      sleep: (ms, options) => clock.sleep(ms, options)
    }
  }

  #deliver (from: NodeState, to: string, msg: MembershipMessage): void {
    const target = this.#nodes.get(to)
    if (target == null || !this.#reachable(from.id, to) || this.#lost()) return
    const copies = this.#random.next() < this.#opts.duplicate ? 2 : 1
    for (let i = 0; i < copies; i++) {
      this.clock.setTimeout(() => { this.#run(target, () => target.handler?.(from.id, msg)) }, this.#delay())
    }
  }

  #transport (node: NodeState): MembershipTransport {
    return {
      send: (to: MemberRef, msg: MembershipMessage) => {
        if (node.killed) return
        const bytes = membershipMessageSize(msg)
        node.sentMessages++
        node.sentBytes += bytes
        // A bootstrap ref with no id is reached by address; in this network the address is the id.
        this.#deliver(node, to.id !== '' ? to.id : (to.addrs[0] ?? ''), msg)
      },
      probe: (to: MemberRef, timeoutMs: number, done: (ok: boolean) => void) => {
        node.sentMessages++
        node.sentBytes += this.#opts.probeBytes
        const target = this.#nodes.get(to.id)
        const fail = (): void => { this.clock.setTimeout(() => { this.#run(node, () => { done(false) }) }, timeoutMs) }
        if (target == null || target.killed || target.paused || !this.#reachable(node.id, to.id) || this.#lost() || this.#lost()) { fail(); return }
        target.sentMessages++
        target.sentBytes += this.#opts.probeBytes
        const rtt = this.#delay() + this.#delay()
        if (rtt > timeoutMs) { fail(); return }
        this.clock.setTimeout(() => { this.#run(node, () => { done(true) }) }, rtt)
      },
      onMessage: (handler) => { node.handler = handler }
    }
  }
}
