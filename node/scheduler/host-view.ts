// A peer's view of every host: what the hosts gossip (capacity, load, images, attributes) merged newest-version-
// wins, what the mesh says about liveness, and what this peer itself has just reserved (so a peer placing twenty
// VMs in a row does not put them all on the host that looked emptiest before the first reservation).

import type { Clock } from '../seams/clock.ts'
import type { HostState, Resources } from './types.ts'

interface Entry {
  state: HostState
  /** Local clock time when this version arrived. */
  receivedAt: number
  /** Reserved by this peer since `state.version`; dropped when a newer version arrives (it counts them). */
  pending: Resources
}

export interface HostViewInit {
  clock: Clock
  /** A state older than this is stale: placement skips it rather than trusting old numbers. Default 30 s. */
  maxAgeMs?: number
}

export class HostView {
  readonly #entries = new Map<string, Entry>()
  readonly #dead = new Set<string>()
  readonly #clock: Clock
  readonly maxAgeMs: number
  // liveStates() is asked once per placement over up to thousands of hosts: it is cached, patched in place when one
  // host changes, rebuilt when the set changes (a death, a new host, one going stale).
  #cache: HostState[] | undefined
  readonly #pos = new Map<string, number>()
  #cacheStaleAt = Infinity

  constructor (init: HostViewInit) {
    this.#clock = init.clock
    this.maxAgeMs = init.maxAgeMs ?? 30_000
  }

  /**
   * Merges one announcement. Returns true when it replaced what we held (strictly newer version), false for an
   * older or equal one (gossip delivers duplicates and out of order); an equal one still refreshes its age.
   */
  merge (state: HostState): boolean {
    const cur = this.#entries.get(state.host)
    if (cur && cur.state.version >= state.version) {
      // The same version again is a heartbeat: the figures are still true, so they are fresh again.
      if (cur.state.version === state.version) {
        cur.receivedAt = this.#clock.now()
        if (!this.#pos.has(state.host) && !this.#dead.has(state.host)) this.#cache = undefined
      }
      return false
    }
    this.#entries.set(state.host, { state, receivedAt: this.#clock.now(), pending: { memoryMiB: 0, vcpus: 0 } })
    this.#patch(state.host)
    return true
  }

  /** The mesh declared the host dead (or alive again after it announced itself). */
  setLive (host: string, live: boolean): void {
    if (live === !this.#dead.has(host)) return
    if (live) this.#dead.delete(host)
    else this.#dead.add(host)
    this.#cache = undefined
  }

  isLive (host: string): boolean { return this.#entries.has(host) && !this.#dead.has(host) }

  isStale (host: string): boolean {
    const e = this.#entries.get(host)
    return !e || this.#clock.now() - e.receivedAt > this.maxAgeMs
  }

  /** Records a reservation this peer obtained, until the host's next announcement reflects it. */
  noteReserved (host: string, r: Resources): void {
    const e = this.#entries.get(host)
    if (!e) return
    e.pending = { memoryMiB: e.pending.memoryMiB + r.memoryMiB, vcpus: e.pending.vcpus + r.vcpus }
    this.#patch(host)
  }

  /**
   * What a host told us directly in a reserve answer: fresher than gossip, so it replaces the used figures now.
   * `version` is the host's accounting version (hosts announce with it), so older gossip still in flight loses.
   */
  noteFree (host: string, free: Resources, version: number): void {
    const e = this.#entries.get(host)
    if (!e || version < e.state.version) return
    const cap = e.state.capacity
    e.state = { ...e.state, version, used: { memoryMiB: cap.memoryMiB - free.memoryMiB, vcpus: cap.vcpus - free.vcpus } }
    e.pending = { memoryMiB: 0, vcpus: 0 }
    this.#patch(host)
  }

  /** The host as placement should see it: announced load plus our own pending reservations. */
  get (host: string): HostState | undefined {
    const e = this.#entries.get(host)
    if (!e) return undefined
    if (e.pending.memoryMiB === 0 && e.pending.vcpus === 0) return e.state
    return {
      ...e.state,
      used: { memoryMiB: e.state.used.memoryMiB + e.pending.memoryMiB, vcpus: e.state.used.vcpus + e.pending.vcpus }
    }
  }

  /** Every host we know, sorted by name (repeatable order for seeded runs). */
  hosts (): string[] { return [...this.#entries.keys()].sort() }

  /**
   * Live, fresh hosts as placement sees them, sorted by name. The array is cached and patched in place by later
   * changes: use it synchronously (placement ranks without awaiting) and never modify it.
   */
  liveStates (): readonly HostState[] {
    if (this.#cache && this.#clock.now() <= this.#cacheStaleAt) return this.#cache
    const out: HostState[] = []
    this.#pos.clear()
    let oldest = Infinity
    for (const h of this.hosts()) {
      if (!this.isLive(h) || this.isStale(h)) continue
      this.#pos.set(h, out.length)
      out.push(this.get(h) as HostState)
      oldest = Math.min(oldest, (this.#entries.get(h) as Entry).receivedAt)
    }
    this.#cacheStaleAt = oldest + this.maxAgeMs
    this.#cache = out
    return out
  }

  #patch (host: string): void {
    if (!this.#cache) return
    const i = this.#pos.get(host)
    if (i === undefined) { this.#cache = undefined; return }
    this.#cache[i] = this.get(host) as HostState
  }
}
