// A virtual clock for discrete-event simulation: timers go into a heap ordered by (time, insertion), and `run`
// advances time to the next timer, fires it, and lets every promise continuation it caused settle before the next
// one (a macrotask turn drains the microtask queue). Protocol cores see an ordinary Clock.

import type { Clock, Timer } from '../../node/seams/clock.ts'

interface Ev { at: number, seq: number, fn: () => void, cancelled: boolean }

const yieldTurn = (): Promise<void> => new Promise(resolve => setImmediate(resolve))

export class SimClock implements Clock {
  #now = 0
  #seq = 0
  readonly #heap: Ev[] = []
  /** Events fired so far. */
  fired = 0
  /** Called after each event and its continuations settled (invariant checkers hook here). */
  afterEvent: (() => void) | undefined

  now (): number { return this.#now }

  setTimeout (fn: () => void, ms: number): Timer {
    const ev: Ev = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false }
    this.#push(ev)
    return { cancel: () => { ev.cancelled = true } }
  }

  sleep (ms: number, options?: { signal?: AbortSignal }): Promise<void> {
    return new Promise((resolve, reject) => {
      const signal = options?.signal
      if (signal?.aborted) { reject(signal.reason); return }
      const t = this.setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
      const onAbort = (): void => { t.cancel(); reject(signal?.reason) }
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Pending (uncancelled or not) timers. */
  get pending (): number { return this.#heap.length }

  /**
   * Fires timers in order until none is left, `until` (virtual ms) is reached, or `done()` says so.
   * Events at the same instant fire in insertion order.
   */
  async run (opts: { until?: number, done?: () => boolean } = {}): Promise<void> {
    await yieldTurn()
    while (this.#heap.length > 0) {
      if (opts.done?.()) return
      const ev = this.#heap[0]
      if (opts.until !== undefined && ev.at > opts.until) { this.#now = opts.until; return }
      this.#pop()
      if (ev.cancelled) continue
      this.#now = ev.at
      this.fired++
      ev.fn()
      await yieldTurn()
      this.afterEvent?.()
    }
    if (opts.until !== undefined) this.#now = Math.max(this.#now, opts.until)
  }

  #less (a: Ev, b: Ev): boolean { return a.at < b.at || (a.at === b.at && a.seq < b.seq) }

  #push (ev: Ev): void {
    const h = this.#heap
    h.push(ev)
    let i = h.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!this.#less(h[i], h[p])) break
      ;[h[i], h[p]] = [h[p], h[i]]
      i = p
    }
  }

  #pop (): void {
    const h = this.#heap
    const last = h.pop() as Ev
    if (h.length === 0) return
    h[0] = last
    let i = 0
    for (;;) {
      const l = 2 * i + 1; const r = l + 1
      let m = i
      if (l < h.length && this.#less(h[l], h[m])) m = l
      if (r < h.length && this.#less(h[r], h[m])) m = r
      if (m === i) return
      ;[h[i], h[m]] = [h[m], h[i]]
      i = m
    }
  }
}
