import { existsSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { CORPUS, corpusFiles, runCase } from './resolve/corpus-run.ts'
import type { CorpusCase } from './resolve/corpus-run.ts'

// The acceptance corpus against HP SmartFrog's goldens (same outcome; same resolved values for successes).
// Cases whose #include files are not in the corpus (the goldens were made with SmartFrog's whole class path)
// cannot be compared; they are listed with that reason and left out of the agreement figure.

const present = existsSync(CORPUS)
if (!present) console.log(`corpus.test: skipped, ${CORPUS} is absent`)

describe.skipIf(!present)('sf-corpus against HP SmartFrog goldens', () => {
  it('agrees on at least 98% of the comparable cases', () => {
    const cases: CorpusCase[] = corpusFiles().map(runCase)
    const incomparable = cases.filter(c => c.ours === 'FAILED' && c.golden === 'SUCCESSFUL' && c.firstError?.startsWith('cannot find') === true)
    const comparable = cases.filter(c => !incomparable.includes(c))
    const agree = comparable.filter(c => c.golden === c.ours && c.difference === undefined)
    for (const c of incomparable) console.log(`not comparable (include missing from the corpus): ${c.file}: ${c.firstError!.split(';')[0]}`)
    for (const c of comparable) {
      if (!agree.includes(c)) console.log(`DIFFERENT ${c.file}: golden ${c.golden}, ours ${c.ours} ${c.difference ?? c.firstError ?? ''}`)
    }
    const outcome = comparable.filter(c => c.golden === c.ours).length
    console.log(`corpus: ${cases.length} files; ${comparable.length} comparable; same outcome ${outcome}/${comparable.length}; ` +
      `same outcome and values ${agree.length}/${comparable.length} (${(100 * agree.length / comparable.length).toFixed(1)}%)`)
    expect(cases.length).toBeGreaterThanOrEqual(80)
    expect(outcome / comparable.length).toBeGreaterThanOrEqual(0.98)
    expect(agree.length / comparable.length).toBeGreaterThanOrEqual(0.98)
  })
})
