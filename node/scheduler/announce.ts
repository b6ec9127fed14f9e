// When a host announces its load. Periodically (the heartbeat that keeps it fresh in every view), and early when its
// load moved by more than a fraction of its capacity since the last announcement, at most once per `minIntervalMs`:
// during a burst of deploys the views then follow the hosts that fill fastest, which is where stale views would
// otherwise make peers collide and be refused.

import type { Clock, Timer } from '../seams/clock.ts'
import type { Resources } from './types.ts'

export interface AnnouncePolicyInit {
  clock: Clock
  capacity: Resources
  /** Regular announcement period. Default 1000 ms. */
  periodMs?: number
  /** Early announcements no closer than this. Default 200 ms. */
  minIntervalMs?: number
  /** Change of memory or vcpu share that triggers an early announcement. Default 0.1. */
  changeFraction?: number
  /** Sends the announcement (the mesh's gossip publish). */
  announce: () => Resources
}

/** Drives one host's announcements: `start()` for the period, `changed(used)` after every admission change. */
export class AnnouncePolicy {
  readonly #init: AnnouncePolicyInit
  #last: Resources = { memoryMiB: 0, vcpus: 0 }
  #lastAt = -Infinity
  #early: Timer | undefined
  #periodic: Timer | undefined

  constructor (init: AnnouncePolicyInit) { this.#init = init }

  start (phaseMs = 0): void {
    const tick = (): void => { this.#send(); this.#periodic = this.#init.clock.setTimeout(tick, this.#init.periodMs ?? 1000) }
    this.#periodic = this.#init.clock.setTimeout(tick, phaseMs)
  }

  stop (): void { this.#periodic?.cancel(); this.#early?.cancel() }

  /** Tells the policy the host's load now; it announces at once, later, or not before the next period. */
  changed (used: Resources): void {
    const { capacity, clock } = this.#init
    const f = this.#init.changeFraction ?? 0.1
    const moved = Math.max(
      capacity.memoryMiB > 0 ? Math.abs(used.memoryMiB - this.#last.memoryMiB) / capacity.memoryMiB : 0,
      capacity.vcpus > 0 ? Math.abs(used.vcpus - this.#last.vcpus) / capacity.vcpus : 0)
    if (moved < f || this.#early) return
    const wait = this.#lastAt + (this.#init.minIntervalMs ?? 200) - clock.now()
    this.#early = clock.setTimeout(() => { this.#early = undefined; this.#send() }, Math.max(0, wait))
  }

  #send (): void {
    this.#last = this.#init.announce()
    this.#lastAt = this.#init.clock.now()
  }
}
