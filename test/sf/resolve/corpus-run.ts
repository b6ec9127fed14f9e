import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { checkFile } from '../../../node/sf/index.ts'
import { parseText } from '../../../node/sf/parser.ts'
import { SfFileNotFoundError } from '../../../node/sf/diagnostics.ts'
import { firstDifference, goldenCanon, resolvedCanon } from './golden.ts'

// Runs every .sf of the acceptance corpus as the goldens were made (from its own directory, with SmartFrog's
// source tree on the include path) and compares outcome and resolved values with HP SmartFrog's output.

// CI checks the repository out with `shared/` beside it: the corpus is ../shared/sf-corpus relative to the
// repository root (three levels above this file), wherever that is.
const REPO = fileURLToPath(new URL('../../../', import.meta.url))
export const CORPUS = join(REPO, '../shared/sf-corpus')
const SF_SRC = join(CORPUS, 'steveloughran-smartfrog/core/smartfrog/src')

export interface CorpusCase {
  file: string
  golden: 'SUCCESSFUL' | 'FAILED'
  ours: 'SUCCESSFUL' | 'FAILED'
  /** For two successes: the first difference of the resolved trees, if any. */
  difference?: string
  firstError?: string
}

function walk (dir: string, out: string[]): void {
  for (const e of readdirSync(dir).sort()) {
    const p = join(dir, e)
    if (e === '_golden') continue
    if (statSync(p).isDirectory()) walk(p, out)
    else if (e.endsWith('.sf')) out.push(p)
  }
}

export function corpusFiles (): string[] {
  const out: string[] = []
  if (existsSync(CORPUS)) walk(CORPUS, out)
  return out.filter(f => existsSync(join(CORPUS, '_golden', relative(CORPUS, f) + '.out')))
}

function includeDirsFor (rel: string): string[] {
  // The goldens of the SmartDomains pools were made with the reconstructed stubs on the class path.
  if (rel.startsWith('smartdomains-tutorial/')) return [join(CORPUS, 'smartdomains-tutorial/stubs'), SF_SRC]
  return [SF_SRC, join(CORPUS, 'steveloughran-smartfrog/core/testharness/test')]
}

export function runCase (file: string): CorpusCase {
  const rel = relative(CORPUS, file)
  const goldenText = readFileSync(join(CORPUS, '_golden', rel + '.out'), 'utf8')
  const golden = /# STATUS: SUCCESSFUL/.test(goldenText) ? 'SUCCESSFUL' : 'FAILED'
  let ours: CorpusCase['ours'] = 'FAILED'
  let difference: string | undefined
  let firstError: string | undefined
  try {
    const r = checkFile(file, { cwd: dirname(file), includeDirs: includeDirsFor(rel), env: {} })
    const err = r.diagnostics.find(d => d.severity === 'error')
    if (err === undefined && r.resolved?.config !== undefined) {
      ours = 'SUCCESSFUL'
      if (golden === 'SUCCESSFUL') {
        const body = goldenText.split('\n').filter(l => !l.startsWith('#')).join('\n')
        const parsed = parseText(body, rel + '.out', { cwd: dirname(file) })
        difference = firstDifference(goldenCanon(parsed.file.attrs), resolvedCanon(r.resolved.config))
      }
    } else if (err !== undefined) {
      firstError = `${err.code} ${err.message}`
    }
  } catch (e) {
    if (!(e instanceof SfFileNotFoundError)) throw e
    firstError = e.message
  }
  return { file: rel, golden, ours, ...(difference !== undefined ? { difference } : {}), ...(firstError !== undefined ? { firstError } : {}) }
}

if (import.meta.main) {
  let same = 0
  const files = corpusFiles()
  for (const f of files) {
    const c = runCase(f)
    const agree = c.golden === c.ours && c.difference === undefined
    if (agree) same++
    else console.log(`${c.file}: golden ${c.golden}, ours ${c.ours}${c.difference !== undefined ? `; ${c.difference}` : ''}${c.firstError !== undefined ? `; ${c.firstError.slice(0, 300)}` : ''}`)
  }
  console.log(`agreement ${same}/${files.length}`)
}
