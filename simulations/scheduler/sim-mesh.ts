// The in-memory mesh of the scheduler simulation: hosts with their own admission, seeded one-way delays between
// every pair of peers, periodic load announcements (gossip) merged into the views of the peers that schedule,
// a failure detector that declares an unreachable host dead after `detectionMs`, and partitions that heal.
// Simplification, said plainly: every peer learns a death at the same virtual instant (detectionMs after the
// failure); the real detector spreads it over a gossip round.

import type { Clock } from '../../node/seams/clock.ts'
import { HostAdmission } from '../../node/scheduler/admission.ts'
import { AnnouncePolicy } from '../../node/scheduler/announce.ts'
import { HostUnreachableError } from '../../node/scheduler/errors.ts'
import { HostView } from '../../node/scheduler/host-view.ts'
import type { ReservationTransport } from '../../node/scheduler/placer.ts'
import type { Random } from '../../node/scheduler/random.ts'
import type { AttrValue, HostState, Resources } from '../../node/scheduler/types.ts'

export interface SimHostInit {
  host: string
  capacity: Resources
  driver?: string
  images?: string[]
  attributes?: Record<string, AttrValue>
}

export interface SimHost {
  readonly host: string
  readonly admission: HostAdmission
  readonly driver: string
  readonly images: string[]
  readonly attributes: Record<string, AttrValue>
  /** False while partitioned or crashed: messages to and from it are lost. */
  reachable: boolean
  /** What the mesh believes (declared dead after detection, alive again once it announces itself). */
  declaredLive: boolean
  /** Domains running on it, by request id: started at commit, gone when stopped or when the host crashes. */
  readonly running: Map<string, RunningCopy>
}

export interface RunningCopy { pool: string, vmId: string, epoch: number, requestId: string }

export interface SimMeshInit {
  clock: Clock
  random: Random
  /** One-way delay range between two peers, ms (fixed per pair, plus up to 10% jitter). Default 0.2..2. */
  latencyMs?: [number, number]
  /** Period of each host's load announcement. Default 1000. */
  gossipMs?: number
  /** Failure-detection time: from the failure to every peer declaring the host dead. Default 3000. */
  detectionMs?: number
  /** A request with no answer fails after this long. Default 1000. */
  timeoutMs?: number
  /** Reservation TTL on hosts. Default 30 s. */
  reservationTtlMs?: number
  /** Early announcement when a host's share moved by this much (AnnouncePolicy); 0 turns early ones off. Default 0.1. */
  announceChange?: number
}

export class SimMesh {
  readonly clock: Clock
  readonly random: Random
  readonly hosts = new Map<string, SimHost>()
  /** The last announcement of every host, as gossip delivered it (bootstraps a view created late). */
  readonly board = new Map<string, HostState>()
  readonly #views = new Map<string, HostView>()
  readonly #downPeers = new Set<string>()
  readonly #latency: [number, number]
  readonly gossipMs: number
  readonly detectionMs: number
  readonly timeoutMs: number
  readonly #ttl: number
  messages = 0
  /** Grows whenever a running copy starts or stops or a liveness declaration changes (checkers skip idle events). */
  changes = 0
  /** Called once per declaration, after every view has it (coordinators react here). */
  onDeclared: ((host: string, live: boolean) => void) | undefined
  /** Called when a partitioned host becomes reachable and learns it was declared dead. */
  onHealed: ((host: SimHost) => void) | undefined

  constructor (init: SimMeshInit) {
    this.clock = init.clock
    this.random = init.random
    this.#latency = init.latencyMs ?? [0.2, 2]
    this.gossipMs = init.gossipMs ?? 1000
    this.detectionMs = init.detectionMs ?? 3000
    this.timeoutMs = init.timeoutMs ?? 1000
    this.#ttl = init.reservationTtlMs ?? 30_000
    this.#announceChange = init.announceChange ?? 0.1
  }

  readonly #announceChange: number

  addHost (init: SimHostInit): SimHost {
    const admission = new HostAdmission({ host: init.host, capacity: init.capacity, clock: this.clock, reservationTtlMs: this.#ttl })
    const h: SimHost = {
      host: init.host,
      admission,
      driver: init.driver ?? 'sim',
      images: init.images ?? [],
      attributes: init.attributes ?? {},
      reachable: true,
      declaredLive: true,
      running: new Map()
    }
    this.hosts.set(h.host, h)
    this.board.set(h.host, this.stateOf(h))
    return h
  }

  stateOf (h: SimHost): HostState {
    const free = h.admission.free()
    const committed = h.admission.entries().filter(e => e.state === 'committed').length
    return {
      host: h.host,
      peer: h.host,
      version: h.admission.version,
      driver: h.driver,
      capacity: h.admission.capacity,
      used: { memoryMiB: h.admission.capacity.memoryMiB - free.memoryMiB, vcpus: h.admission.capacity.vcpus - free.vcpus },
      domains: committed,
      images: h.images,
      attributes: h.attributes
    }
  }

  /** A peer's view, created on first use from the gossip board (a peer that starts scheduling late). */
  viewFor (peer: string): HostView {
    let v = this.#views.get(peer)
    if (!v) {
      v = new HostView({ clock: this.clock, maxAgeMs: Math.max(30_000, this.gossipMs * 5) })
      for (const s of this.board.values()) v.merge(s)
      for (const h of this.hosts.values()) v.setLive(h.host, h.declaredLive)
      this.#views.set(peer, v)
    }
    return v
  }

  /** Starts every host's announcements (AnnouncePolicy: periodic, and early on a big change), at random phases. */
  startGossip (): void {
    for (const h of this.hosts.values()) {
      const policy = new AnnouncePolicy({
        clock: this.clock,
        capacity: h.admission.capacity,
        periodMs: this.gossipMs,
        changeFraction: this.#announceChange > 0 ? this.#announceChange : Infinity,
        announce: () => {
          const s = this.stateOf(h)
          if (h.reachable && h.declaredLive) {
            this.messages++
            this.clock.setTimeout(() => {
              this.board.set(h.host, s)
              for (const v of this.#views.values()) v.merge(s)
            }, this.delay('gossip', h.host))
          }
          return s.used
        }
      })
      h.admission.onChange = () => {
        const free = h.admission.free()
        policy.changed({ memoryMiB: h.admission.capacity.memoryMiB - free.memoryMiB, vcpus: h.admission.capacity.vcpus - free.vcpus })
      }
      policy.start(this.random.next() * this.gossipMs)
    }
  }

  /** One-way delay between two peers: fixed per pair (hash of the names) plus up to 10% jitter. */
  delay (a: string, b: string): number {
    let x = 2166136261
    for (const s of [a, '\u0000', b]) for (let i = 0; i < s.length; i++) x = Math.imul(x ^ s.charCodeAt(i), 16777619)
    const base = this.#latency[0] + ((x >>> 0) / 4294967296) * (this.#latency[1] - this.#latency[0])
    return base * (1 + 0.1 * this.random.next())
  }

  peerUp (peer: string): boolean {
    if (this.#downPeers.has(peer)) return false
    const h = this.hosts.get(peer)
    return h === undefined || h.reachable
  }

  /** Liveness as the mesh declares it (what coordinators and placers act on). */
  isLive = (peer: string): boolean => {
    const h = this.hosts.get(peer)
    if (h) return h.declaredLive
    return !this.#declaredDeadPeers.has(peer)
  }

  readonly #declaredDeadPeers = new Set<string>()

  /**
   * Sends a request from `from` to `to`, runs `handle` there, brings its result back. Rejects with
   * HostUnreachableError after `timeoutMs` when either side is down on the way.
   */
  call<T> (from: string, to: string, handle: () => T, options?: { signal?: AbortSignal }): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => reject(new HostUnreachableError(to, `no answer in ${this.timeoutMs} ms`)), this.timeoutMs)
      options?.signal?.addEventListener('abort', () => { timer.cancel(); reject(options.signal?.reason) }, { once: true })
      const d = this.delay(from, to)
      this.messages++
      this.clock.setTimeout(() => {
        if (!this.peerUp(from) || !this.peerUp(to)) return
        const out = handle()
        this.messages++
        this.clock.setTimeout(() => {
          if (!this.peerUp(from) || !this.peerUp(to)) return
          timer.cancel()
          resolve(out)
        }, d)
      }, d)
    })
  }

  transportFor (peer: string): ReservationTransport {
    const host = (name: string): SimHost => {
      const h = this.hosts.get(name)
      if (!h) throw new HostUnreachableError(name, 'unknown host')
      return h
    }
    return {
      reserve: (name, req, o) => this.call(peer, name, () => host(name).admission.reserve(req), o),
      commit: (name, id, o) => this.call(peer, name, () => {
        const h = host(name)
        const a = h.admission.commit(id)
        const e = h.admission.entries().find(x => x.requestId === id)
        // Committing starts the domain (the engine's commit phase); a retried commit does not start a second one.
        if (a.committed && e && !h.running.has(id)) {
          h.running.set(id, { pool: e.pool, vmId: e.vmId, epoch: e.epoch, requestId: id })
          this.changes++
        }
        return a
      }, o),
      release: (name, id, o) => this.call(peer, name, () => host(name).admission.release(id), o)
    }
  }

  /** The host stops answering; its domains keep running (a partition) unless `crash`, which loses them. */
  fail (name: string, mode: 'partition' | 'crash'): void {
    const h = this.hosts.get(name)
    if (!h) throw new Error(`no host ${name}`)
    h.reachable = false
    if (mode === 'crash') {
      for (const e of h.admission.entries()) h.admission.release(e.requestId)
      h.running.clear()
      this.changes++
    }
    this.clock.setTimeout(() => this.#declare(name, false), this.detectionMs)
  }

  /** A non-host peer (a deployer) goes down; declared dead after detection. */
  failPeer (peer: string): void {
    const h = this.hosts.get(peer)
    if (h) { this.fail(peer, 'partition'); return }
    this.#downPeers.add(peer)
    this.clock.setTimeout(() => { this.#declaredDeadPeers.add(peer); this.onDeclared?.(peer, false) }, this.detectionMs)
  }

  /** The partition heals: the host is reachable again and learns (onHealed) that it was declared dead. */
  heal (name: string): void {
    const h = this.hosts.get(name)
    if (!h) throw new Error(`no host ${name}`)
    h.reachable = true
    if (!h.declaredLive) this.onHealed?.(h)
  }

  /** The host announces itself alive (after fencing, when the scenario does it right). */
  announceAlive (name: string): void {
    const h = this.hosts.get(name)
    if (!h || !h.reachable) return
    this.board.set(name, this.stateOf(h))
    for (const v of this.#views.values()) v.merge(this.stateOf(h))
    this.#declare(name, true)
  }

  #declare (name: string, live: boolean): void {
    const h = this.hosts.get(name)
    if (!h || h.declaredLive === live) return
    if (!live && h.reachable) return // it came back before the detector fired
    h.declaredLive = live
    this.changes++
    for (const v of this.#views.values()) v.setLive(name, live)
    this.onDeclared?.(name, live)
  }
}
