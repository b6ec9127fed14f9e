import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { CORPUS, corpusFiles, runCase } from './resolve/corpus-run.ts'
import type { CorpusCase } from './resolve/corpus-run.ts'

// The acceptance corpus against HP SmartFrog's goldens: the same outcome for every file, and the same resolved
// values for the successes. Files including SmartFrog library files that are not in the corpus get ours from the
// bundled library (node/sf/library/), so every file counts. Each difference is printed, and listed with its reason
// in BENCHMARKS.md.

const present = existsSync(CORPUS)
if (!present) console.log(`corpus.test: skipped, the corpus ${CORPUS} (../shared/sf-corpus beside the repository) is absent`)

describe.skipIf(!present)('sf-corpus against HP SmartFrog goldens', () => {
  it('agrees on at least 98% of all the files', () => {
    const cases: CorpusCase[] = corpusFiles().map(runCase)
    const outcome = cases.filter(c => c.golden === c.ours)
    const agree = outcome.filter(c => c.difference === undefined)
    for (const c of cases) {
      if (!agree.includes(c)) console.log(`DIFFERENT ${c.file}: golden ${c.golden}, ours ${c.ours} ${c.difference ?? c.firstError ?? ''}`)
    }
    const pct = (n: number): string => (100 * n / cases.length).toFixed(1)
    console.log(`corpus: ${cases.length} files; same outcome ${outcome.length}/${cases.length} (${pct(outcome.length)}%); ` +
      `same outcome and values ${agree.length}/${cases.length} (${pct(agree.length)}%)`)
    expect(cases.length).toBeGreaterThanOrEqual(87)
    expect(outcome.length / cases.length).toBeGreaterThanOrEqual(0.98)
    expect(agree.length / cases.length).toBeGreaterThanOrEqual(0.98)
  })
})
