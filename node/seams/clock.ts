// Time as a seam: protocol cores never call Date.now() or setTimeout directly, so the same code runs on the
// real clock in the daemon and on a virtual clock in the seeded simulations.

export interface Timer {
  cancel (): void
}

export interface Clock {
  /** Milliseconds since an arbitrary epoch; monotonic. */
  now (): number
  /** Calls `fn` once after `ms` milliseconds unless cancelled. Never calls it synchronously. */
  setTimeout (fn: () => void, ms: number): Timer
  /** Resolves after `ms`, or rejects with the signal's reason when aborted. */
  sleep (ms: number, options?: { signal?: AbortSignal }): Promise<void>
}

export const realClock: Clock = {
  now: () => performance.timeOrigin + performance.now(),
  setTimeout (fn, ms) {
    const t = setTimeout(fn, ms)
    t.unref?.()
    return { cancel: () => clearTimeout(t) }
  },
  sleep (ms, options) {
    return new Promise((resolve, reject) => {
      const signal = options?.signal
      if (signal?.aborted) { reject(signal.reason); return }
      const t = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
      const onAbort = (): void => { clearTimeout(t); reject(signal?.reason) }
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}
