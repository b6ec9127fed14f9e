import type { Clock, Timer } from '../../seams/clock.ts'

// Lifeguard's suspicion timeout: it starts at `max` and shrinks towards `min` as independent members confirm the
// suspicion, so a member many peers cannot reach is declared dead quickly, and one that only we cannot reach has
// the longest time to refute.

/**
 * Milliseconds left before a suspicion expires, after `n` independent confirmations out of `k` expected and
 * `elapsed` ms since it began (memberlist's remainingSuspicionTime). May be negative: already expired.
 */
export function remainingSuspicionTime (n: number, k: number, elapsed: number, min: number, max: number): number {
  const frac = Math.log(n + 1) / Math.log(k + 1)
  const raw = max - frac * (max - min)
  const timeout = Math.max(Math.floor(raw), min)
  return timeout - elapsed
}

/** The minimum suspicion timeout: grows with log10 of the member count, as in memberlist. */
export function suspicionTimeout (suspicionMult: number, n: number, probeIntervalMs: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, n)))
  return Math.floor(suspicionMult * nodeScale * probeIntervalMs)
}

/** One running suspicion of one member: a timer that confirmations from other members bring closer. */
export class Suspicion {
  readonly #clock: Clock
  readonly #k: number
  readonly #min: number
  readonly #max: number
  readonly #start: number
  readonly #confirmations = new Set<string>()
  readonly #onTimeout: (confirmations: number) => void
  #timer: Timer | undefined
  #fired = false

  /**
   * `from` is the member that raised the suspicion (it never counts as a confirmation); `k` the confirmations
   * expected; `onTimeout` is called once, asynchronously, unless `cancel()` is called first.
   */
  constructor (clock: Clock, from: string, k: number, min: number, max: number, onTimeout: (confirmations: number) => void) {
    this.#clock = clock
    this.#k = k
    this.#min = min
    this.#max = k < 1 ? min : max
    this.#start = clock.now()
    this.#onTimeout = onTimeout
    this.#confirmations.add(from)
    this.#schedule(this.#max)
  }

  get confirmations (): number { return this.#confirmations.size - 1 }

  /** Records a confirmation by `from`; true when it was new and independent (and so worth re-gossiping). */
  confirm (from: string): boolean {
    if (this.#fired || this.confirmations >= this.#k || this.#confirmations.has(from)) return false
    this.#confirmations.add(from)
    const remaining = remainingSuspicionTime(this.confirmations, this.#k, this.#clock.now() - this.#start, this.#min, this.#max)
    this.#timer?.cancel()
    this.#schedule(remaining)
    return true
  }

  cancel (): void {
    this.#fired = true
    this.#timer?.cancel()
  }

  #schedule (ms: number): void {
    this.#timer = this.#clock.setTimeout(() => {
      if (this.#fired) return
      this.#fired = true
      this.#onTimeout(this.confirmations)
    }, Math.max(0, ms))
  }
}
