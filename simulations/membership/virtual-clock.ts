import type { Clock, Timer } from '../../node/seams/clock.ts'

// A discrete-event clock: time moves only when the simulation runs it, events fire in (time, insertion) order,
// so a run is a pure function of its seed.

interface Event { at: number, seq: number, fn: () => void, cancelled: boolean }

/** Binary min-heap on (at, seq). */
class EventHeap {
  readonly #items: Event[] = []
  get size (): number { return this.#items.length }
  peek (): Event | undefined { return this.#items[0] }
  push (e: Event): void {
    const a = this.#items
    a.push(e)
    let i = a.length - 1
    while (i > 0) {
      const p = (i - 1) >> 1
      if (!less(a[i], a[p])) break
      ;[a[i], a[p]] = [a[p], a[i]]
      i = p
    }
  }

  pop (): Event | undefined {
    const a = this.#items
    const top = a[0]
    const last = a.pop()
    if (a.length > 0 && last != null) {
      a[0] = last
      let i = 0
      for (;;) {
        const l = 2 * i + 1; const r = l + 1
        let m = i
        if (l < a.length && less(a[l], a[m])) m = l
        if (r < a.length && less(a[r], a[m])) m = r
        if (m === i) break
        ;[a[i], a[m]] = [a[m], a[i]]
        i = m
      }
    }
    return top
  }
}

function less (a: Event, b: Event): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq)
}

export class VirtualClock implements Clock {
  readonly #heap = new EventHeap()
  #now = 0
  #seq = 0

  now (): number { return this.#now }

  setTimeout (fn: () => void, ms: number): Timer {
    const e: Event = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false }
    this.#heap.push(e)
    return { cancel: () => { e.cancelled = true } }
  }

  sleep (ms: number, options?: { signal?: AbortSignal }): Promise<void> {
    return new Promise((resolve, reject) => {
      const signal = options?.signal
      if (signal?.aborted === true) { reject(signal.reason); return }
      const t = this.setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
      const onAbort = (): void => { t.cancel(); reject(signal?.reason) }
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Runs every event due up to `until` (inclusive), then sets the time to `until`. Returns events run. */
  runUntil (until: number): number {
    let n = 0
    for (;;) {
      const e = this.#heap.peek()
      if (e == null || e.at > until) break
      this.#heap.pop()
      if (e.cancelled) continue
      this.#now = e.at
      e.fn()
      n++
    }
    this.#now = Math.max(this.#now, until)
    return n
  }

  advance (ms: number): number { return this.runUntil(this.#now + ms) }

  get pending (): number { return this.#heap.size }
}
