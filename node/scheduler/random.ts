// A seeded random source: the scheduler's power-of-d choices and every simulation draw from it, so a run is
// repeatable from its seed. (Math.random would make a failing simulation impossible to replay.)

export interface Random {
  /** Uniform in [0, 1). */
  next (): number
  /** Uniform integer in [0, n). */
  int (n: number): number
}

/** mulberry32: tiny, fast, good enough for load spreading and simulations (not for secrets). */
export function seededRandom (seed: number): Random {
  let a = seed >>> 0
  const next = (): number => {
    a = (a + 0x6D2B79F5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  return { next, int: (n: number) => Math.floor(next() * n) }
}

/** FNV-1a of a string: a stable seed from a name (a pool and a peer), different across names. */
export function seedFromString (s: string): number {
  let h = 2166136261
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
  return h >>> 0
}
