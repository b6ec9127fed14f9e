import { afterAll, describe, expect, it } from 'vitest'
import { cleanupFuzz, targets } from '../../simulations/fuzz/targets.ts'
import { formatReport, knownFaultLines, runTarget } from '../../simulations/fuzz/runner.ts'

// Bounded fuzzing in `npm test`: each target runs for FUZZ_MS (default 3 s) on a fresh seed (FUZZ_SEED pins one;
// a failure prints the seed and path that replay it). The long run is `npx node simulations/fuzz/run.ts --minutes N`.

const budget = Number(process.env.FUZZ_MS ?? 3000)
const seed = Number(process.env.FUZZ_SEED ?? (Date.now() % 2 ** 31))

describe('fuzzing: no crash, no hang, no unbounded memory', () => {
  afterAll(cleanupFuzz)
  for (const target of targets) {
    it(`${target.name}`, () => {
      const r = runTarget(target, budget, seed)
      console.log(formatReport(r))
      for (const line of knownFaultLines()) console.warn(line)
      // Enough inputs that the run meant something, and memory that did not run away.
      expect(r.inputs).toBeGreaterThan(budget >= 2000 ? 20 : 0)
      expect(r.heapGrowthMB).toBeLessThan(64)
    }, budget * 4 + 10_000)
  }
})
