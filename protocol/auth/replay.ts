// Remembers the ids of accepted requests for as long as their time stays inside the acceptance window; after that
// the window check refuses them anyway, so they can be forgotten. Memory is bounded twice: by time (a min-heap of
// expiry times evicts the oldest first, amortised O(log n)) and by a hard entry cap, past which new requests are
// refused rather than old ids forgotten early (forgetting early would re-open a replay).
//
// A fresh cache knows nothing of what was accepted before the process started. `notBefore` closes that gap: a
// daemon passes its start time, and requests signed earlier are refused as possibly replayed (the operator re-signs).

export type ReplayVerdict = 'fresh' | 'replayed' | 'full'

export interface ReplayCacheOptions {
  /** Hard bound on remembered ids (default 100,000: about 10 MB). */
  maxEntries?: number
  /** Requests whose signed time is before this (ms) are refused: the cache cannot know whether they ran. */
  notBefore?: number
}

interface Entry { expires: number, id: string }

export class ReplayCache {
  readonly maxEntries: number
  readonly notBefore: number
  readonly #ids = new Map<string, number>()
  readonly #heap: Entry[] = []

  constructor (options: ReplayCacheOptions = {}) {
    this.maxEntries = options.maxEntries ?? 100_000
    this.notBefore = options.notBefore ?? -Infinity
  }

  get size (): number { return this.#ids.size }

  /**
   * Records `id` until `expiresAt` unless already recorded. `time` is the request's signed time. Call only for a
   * request that passed every other check: an id is burnt by the first valid use.
   */
  admit (id: string, time: number, expiresAt: number, now: number): ReplayVerdict {
    this.evict(now)
    if (time < this.notBefore) return 'replayed'
    if (this.#ids.has(id)) return 'replayed'
    if (this.#ids.size >= this.maxEntries) return 'full'
    this.#ids.set(id, expiresAt)
    this.#push({ expires: expiresAt, id })
    return 'fresh'
  }

  has (id: string): boolean { return this.#ids.has(id) }

  /** Forgets every id whose expiry is before `now`. */
  evict (now: number): void {
    const heap = this.#heap
    while (heap.length > 0 && heap[0].expires < now) {
      const top = this.#pop()
      if (this.#ids.get(top.id) === top.expires) this.#ids.delete(top.id)
    }
  }

  #push (e: Entry): void {
    const h = this.#heap
    h.push(e)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (h[p].expires <= h[i].expires) break
      ;[h[p], h[i]] = [h[i], h[p]]
      i = p
    }
  }

  #pop (): Entry {
    const h = this.#heap
    const top = h[0]
    const last = h.pop()!
    if (h.length > 0) {
      h[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1
        const r = l + 1
        let m = i
        if (l < h.length && h[l].expires < h[m].expires) m = l
        if (r < h.length && h[r].expires < h[m].expires) m = r
        if (m === i) break
        ;[h[m], h[i]] = [h[i], h[m]]
        i = m
      }
    }
    return top
  }
}
