import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { formatDiagnostic, SfFileNotFoundError } from '../../../node/sf/diagnostics.ts'
import { parseFile } from '../../../node/sf/parser.ts'

// Every .sf of the HP-checked corpus must parse without a lexical/syntax/include diagnostic unless its golden
// (the real SmartFrog parser's output) says SmartFrogParseException; where HP names a line and column, so must we
// (with tabs counted as 8 columns, as JavaCC does).

// CI clones the repository with the shared reference material beside it: the corpus is ../shared/sf-corpus
// relative to the repository, wherever that is checked out.
const REPO = fileURLToPath(new URL('../../../', import.meta.url))
const CORPUS = join(REPO, '../shared/sf-corpus')
const SRC = join(CORPUS, 'steveloughran-smartfrog/core/smartfrog/src')
// HP ran with the SmartFrog trees on its class path; these are the corpus parts of it.
const INCLUDE_DIRS = [SRC, join(CORPUS, 'steveloughran-smartfrog/core/testharness/test'), join(CORPUS, 'smartdomains-tutorial/stubs')]

function sfFiles (dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir).sort()) {
    if (e === '_golden') continue
    const p = join(dir, e)
    if (statSync(p).isDirectory()) sfFiles(p, out)
    else if (p.endsWith('.sf')) out.push(p)
  }
  return out
}

/** HP's "at line L, column C" from the golden's error line, if any. */
function hpPosition (golden: string): { line: number, col: number } | null {
  const m = /at line (\d+), column (\d+)/.exec(golden)
  return m ? { line: Number(m[1]), col: Number(m[2]) } : null
}

const present = existsSync(CORPUS)
if (!present) console.log(`corpus test skipped: ${CORPUS} is absent (the shared reference material is not mounted here)`)

describe.skipIf(!present)('SmartFrog corpus', () => {
  const files = present ? sfFiles(CORPUS) : []

  it('has the corpus files', () => { expect(files.length).toBeGreaterThan(80) })

  for (const f of files) {
    const rel = relative(CORPUS, f)
    it(rel, () => {
      // The reconstructed SmartDomains stubs have no golden: they must simply parse.
      const goldenPath = join(CORPUS, '_golden', rel + '.out')
      const golden = existsSync(goldenPath) ? readFileSync(goldenPath, 'utf8') : ''
      const hpParseError = golden.includes('SmartFrogParseException')
      const hpIncludeMissing = hpParseError && /Include file: .* not found/.test(golden)
      let diagnostics: string[] = []
      let missing: SfFileNotFoundError | null = null
      let errorPos: { line: number, col: number } | null = null
      try {
        const r = parseFile(f, { cwd: dirname(f), includeDirs: INCLUDE_DIRS, tabWidth: 8 })
        diagnostics = r.diagnostics.map(formatDiagnostic)
        errorPos = r.diagnostics[0]?.pos ?? null
      } catch (e) {
        if (!(e instanceof SfFileNotFoundError)) throw e
        missing = e
      }
      if (!hpParseError) {
        expect(diagnostics).toEqual([])
        if (missing !== null) {
          // HP had the full SmartFrog class path; the corpus holds only part of it. Make sure the file really is
          // absent everywhere we looked (not a lookup bug), then check the file's own syntax without it.
          expect(missing.tried.some(existsSync)).toBe(false)
          const r = parseFile(f, { cwd: dirname(f), includeDirs: INCLUDE_DIRS, tabWidth: 8, ignoreMissingIncludes: true })
          expect(r.diagnostics.map(formatDiagnostic)).toEqual([])
        }
        return
      }
      if (hpIncludeMissing) {
        expect(missing).toBeInstanceOf(SfFileNotFoundError)
        return
      }
      expect(diagnostics.length).toBeGreaterThan(0)
      const hp = hpPosition(golden)
      if (hp) expect(errorPos && { line: errorPos.line, col: errorPos.col }).toEqual(hp)
    })
  }
})
