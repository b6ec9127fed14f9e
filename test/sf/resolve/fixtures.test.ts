import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { checkFile } from '../../../node/sf/index.ts'

// Golden fixtures (STYLE.md: expected output beside the input): X.sf with X.json (the resolved sfConfig) or
// X.errors (every diagnostic as LINE:COL severity CODE, in order).

const DIR = new URL('../../fixtures/sf/resolve/', import.meta.url).pathname

describe('resolver fixtures', () => {
  const files = readdirSync(DIR).filter(f => f.endsWith('.sf')).sort()
  it('has fixtures for each rule', () => { expect(files.length).toBeGreaterThanOrEqual(10) })
  for (const f of files) {
    const base = join(DIR, f.slice(0, -3))
    it(f, () => {
      const r = checkFile(join(DIR, f), { cwd: DIR, env: {} })
      if (existsSync(base + '.json')) {
        expect(r.diagnostics.filter(d => d.severity === 'error')).toEqual([])
        expect(r.config).toEqual(JSON.parse(readFileSync(base + '.json', 'utf8')))
        // Key order is part of the meaning (SmartFrog's ordered contexts).
        expect(JSON.stringify(r.config)).toBe(JSON.stringify(JSON.parse(readFileSync(base + '.json', 'utf8'))))
      } else {
        const want = readFileSync(base + '.errors', 'utf8').trim().split('\n')
        expect(r.config).toBeUndefined()
        expect(r.diagnostics.map(d => `${d.pos.line}:${d.pos.col} ${d.severity} ${d.code}`)).toEqual(want)
        for (const d of r.diagnostics) expect(d.pos.file).toBe(join(DIR, f))
      }
    })
  }
})
