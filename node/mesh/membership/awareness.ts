// Lifeguard's local health multiplier: when our own probes fail without the nacks that would prove the network
// fine, the fault is likely ours (CPU starved, paused, NIC trouble), so we slow down and wait longer before
// accusing others.

export class Awareness {
  readonly #max: number
  #score = 0

  /** `max` is the number of levels: the score stays in [0, max-1]. */
  constructor (max: number) {
    this.#max = Math.max(1, max)
  }

  get score (): number { return this.#score }

  applyDelta (delta: number): void {
    this.#score = Math.min(this.#max - 1, Math.max(0, this.#score + delta))
  }

  /** A timeout or interval stretched by our health: unchanged when healthy, (score+1)× when not. */
  scale (ms: number): number {
    return ms * (this.#score + 1)
  }
}
