// A seeded random source, so a simulation (and the member choice of a real node in a test) repeats from its seed.

export interface Random {
  /** A float in [0, 1). */
  next (): number
  /** An integer in [0, n). */
  int (n: number): number
}

/** mulberry32: tiny, fast, and good enough for choosing probe targets. */
export function seededRandom (seed: number): Random {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return { next, int: (n) => Math.floor(next() * n) }
}

/** Fisher–Yates shuffle in place. */
export function shuffle<T> (items: T[], random: Random): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = random.int(i + 1)
    const t = items[i]; items[i] = items[j]; items[j] = t
  }
  return items
}

/** Up to `k` distinct items chosen at random, order random. */
export function sample<T> (items: readonly T[], k: number, random: Random): T[] {
  return shuffle([...items], random).slice(0, k)
}
