import type { Clock, Timer } from '../../node/seams/clock.ts'
import { DeployTransportError } from '../../node/deploy/errors.ts'
import type { DeployHandler, DeployRequest, DeployResponse, DeployTransport } from '../../node/deploy/types.ts'
import { seededRandom } from '../../node/scheduler/random.ts'
import type { Random } from '../../node/scheduler/random.ts'

// The in-memory twin of the deploy transport: one explicit object per test (no module state), seeded one-way
// delays with jitter, loss of requests and of answers, duplicated deliveries (to exercise idempotence), killed
// peers (silent: the caller times out), paused peers (SIGSTOP: work queues until resume) and partitions.
// Messages are deep-copied both ways so no object is shared between peers, as on a real wire.

export interface DeployNetworkOptions {
  seed: number
  loss?: number
  minDelayMs?: number
  jitterMs?: number
  duplicate?: number
}

interface Node {
  id: string
  handler?: DeployHandler
  killed: boolean
  paused: boolean
  deferred: Array<() => void>
}

export class DeployNetwork {
  readonly clock: Clock
  readonly #random: Random
  readonly #o: Required<Omit<DeployNetworkOptions, 'seed'>>
  readonly #nodes = new Map<string, Node>()
  #groups: Map<string, number> | undefined
  /** Requests sent, by message type. */
  readonly sent = new Map<string, number>()
  /** Fault injection: called as a request reaches its target, before the target handles it. */
  beforeDeliver: ((from: string, to: string, req: DeployRequest) => void) | undefined

  constructor (clock: Clock, o: DeployNetworkOptions) {
    this.clock = clock
    this.#random = seededRandom(o.seed ^ 0xde91)
    this.#o = { loss: 0, minDelayMs: 0.1, jitterMs: 0.4, duplicate: 0, ...o }
  }

  attach (id: string): { transport: DeployTransport, clock: Clock, listen: (h: DeployHandler) => void } {
    const node: Node = { id, killed: false, paused: false, deferred: [] }
    this.#nodes.set(id, node)
    return {
      transport: { request: (peer, req, o) => this.#request(node, peer, req, o.timeoutMs) },
      clock: this.#nodeClock(node),
      listen: (h) => { node.handler = h }
    }
  }

  kill (id: string): void { const n = this.#node(id); n.killed = true; n.deferred = [] }
  pause (id: string): void { this.#node(id).paused = true }
  resume (id: string): void {
    const n = this.#node(id)
    n.paused = false
    for (const fn of n.deferred.splice(0)) if (!n.killed && !n.paused) fn()
  }

  isKilled (id: string): boolean { return this.#node(id).killed }

  partition (groups: string[][]): void {
    this.#groups = new Map()
    groups.forEach((g, i) => { for (const id of g) this.#groups?.set(id, i) })
  }

  heal (): void { this.#groups = undefined }
  setLoss (loss: number): void { this.#o.loss = loss }

  #node (id: string): Node {
    const n = this.#nodes.get(id)
    if (n === undefined) throw new Error(`no peer ${id} in this network`)
    return n
  }

  #reachable (a: string, b: string): boolean {
    if (this.#groups === undefined) return true
    const x = this.#groups.get(a); const y = this.#groups.get(b)
    return x !== undefined && x === y
  }

  #delay (): number { return this.#o.minDelayMs + this.#random.next() * this.#o.jitterMs }

  #run (node: Node, fn: () => void): void {
    if (node.killed) return
    if (node.paused) { node.deferred.push(fn); return }
    fn()
  }

  #nodeClock (node: Node): Clock {
    const clock = this.clock
    const self = this
    return {
      now: () => clock.now(),
      setTimeout (fn: () => void, ms: number): Timer {
        let cancelled = false
        const t = clock.setTimeout(() => { if (!cancelled) self.#run(node, () => { if (!cancelled) fn() }) }, ms)
        return { cancel: () => { cancelled = true; t.cancel() } }
      },
      sleep (ms: number, options?: { signal?: AbortSignal }): Promise<void> {
        return new Promise((resolve, reject) => {
          const signal = options?.signal
          if (signal?.aborted === true) { reject(signal.reason); return }
          const t = this.setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
          const onAbort = (): void => { t.cancel(); reject(signal?.reason) }
          signal?.addEventListener('abort', onAbort, { once: true })
        })
      }
    }
  }

  #request (from: Node, to: string, req: DeployRequest, timeoutMs: number): Promise<DeployResponse> {
    this.sent.set(req.type, (this.sent.get(req.type) ?? 0) + 1)
    return new Promise((resolve, reject) => {
      if (from.killed) { reject(new DeployTransportError(to, 'unreachable', 'this peer is down')); return }
      let settled = false
      const settle = (fn: () => void): void => { if (settled) return; settled = true; timer.cancel(); this.#run(from, fn) }
      const timer = this.clock.setTimeout(() => {
        if (settled) return
        settled = true
        this.#run(from, () => reject(new DeployTransportError(to, 'timeout', `${req.type}: no answer within ${timeoutMs} ms`)))
      }, timeoutMs)
      const target = this.#nodes.get(to)
      if (target === undefined) {
        this.clock.setTimeout(() => settle(() => reject(new DeployTransportError(to, 'unreachable', 'no such peer'))), this.#delay())
        return
      }
      const copies = this.#random.next() < this.#o.duplicate ? 2 : 1
      for (let i = 0; i < copies; i++) {
        if (this.#random.next() < this.#o.loss || !this.#reachable(from.id, to)) continue
        const msg = structuredClone(req)
        this.clock.setTimeout(() => this.#run(target, () => {
          this.beforeDeliver?.(from.id, to, msg)
          if (target.killed || target.paused || !this.#reachable(from.id, to)) return
          const h = target.handler
          if (h === undefined) return
          h(from.id, msg).then(res => {
            if (target.killed || this.#random.next() < this.#o.loss || !this.#reachable(to, from.id)) return
            const copy = structuredClone(res)
            this.clock.setTimeout(() => settle(() => resolve(copy)), this.#delay())
          }, (err: Error) => {
            if (target.killed) return
            const e = new DeployTransportError(to, 'remote-error', `${err.name}: ${err.message}`)
            this.clock.setTimeout(() => settle(() => reject(e)), this.#delay())
          })
        }), this.#delay())
      }
    })
  }
}
