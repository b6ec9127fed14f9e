import type { Clock, Timer } from '../../node/seams/clock.ts'

// A clock that moves only when the test says so. `advance` fires due timers in time order and lets the promise
// callbacks they trigger run before the next one, so code that awaits sleep() in a loop progresses as it would in
// real time.

interface Pending { at: number, seq: number, fn: () => void, cancelled: boolean }

export class ManualClock implements Clock {
  #now: number
  #seq = 0
  #pending: Pending[] = []

  constructor (start = 1_000_000) { this.#now = start }

  now (): number { return this.#now }

  setTimeout (fn: () => void, ms: number): Timer {
    const p: Pending = { at: this.#now + Math.max(0, ms), seq: this.#seq++, fn, cancelled: false }
    this.#pending.push(p)
    return { cancel: () => { p.cancelled = true } }
  }

  sleep (ms: number, options?: { signal?: AbortSignal }): Promise<void> {
    return new Promise((resolve, reject) => {
      const signal = options?.signal
      if (signal?.aborted) { reject(signal.reason); return }
      const onAbort = (): void => { t.cancel(); reject(signal?.reason) }
      const t = this.setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** Timers not yet fired nor cancelled. */
  get pendingCount (): number { return this.#pending.filter(p => !p.cancelled).length }

  /** Moves time forward by `ms`, firing every timer that falls due, each followed by a drain of the microtasks. */
  async advance (ms: number): Promise<void> {
    const end = this.#now + ms
    await settle()
    for (;;) {
      this.#pending = this.#pending.filter(p => !p.cancelled)
      this.#pending.sort((a, b) => a.at - b.at || a.seq - b.seq)
      const next = this.#pending[0]
      if (next === undefined || next.at > end) break
      this.#pending.shift()
      this.#now = Math.max(this.#now, next.at)
      next.fn()
      await settle()
    }
    this.#now = end
    await settle()
  }
}

/** Lets pending promise callbacks (and the I/O callbacks they wait on, through setImmediate) run. */
export async function settle (rounds = 5): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>(resolve => setImmediate(resolve))
}
