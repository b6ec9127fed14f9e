import { readFileSync } from 'node:fs'
import { resolve } from 'node:path'
import type { ComponentNode, Reference, SfFile, SourcePos, Value } from './ast.ts'
import { DiagnosticBag, SfFileNotFoundError, formatDiagnostic, type Diagnostic } from './diagnostics.ts'
import { includeSession, type IncludeOptions } from './includes.ts'
import { uniqueNames, type UniqueNames } from './syntax/desugar.ts'
import { Grammar, type IncludeHook } from './syntax/grammar.ts'
import { PosTable } from './syntax/positions.ts'

// Public entry points of the .sf front end: text or file -> SfFile (includes spliced, operators desugared)
// plus diagnostics. Bad input never throws; only a missing root file or a missing `#include` does
// (SfFileNotFoundError: exit status 2, the description is not at fault).

export interface ParseOptions extends IncludeOptions {
  /** Directory for cwd-relative includes (SmartFrog resolves includes against the working directory). */
  cwd?: string
  /** `-I` directories, searched in order after the working directory and the including file's directory. */
  includeDirs?: string[]
  /** The bundled library (default `node/sf/library/`), searched last. */
  libraryDir?: string
  /** Columns a tab counts for in positions: 1 (default, UTF-16 code units) or 8 to match HP SmartFrog's messages. */
  tabWidth?: number
  /**
   * For the resolver (index.ts): each component of the root file, as soon as it is parsed, is replaced in the tree
   * by what this returns (the resolver's own node, built while the parser goes on), so that the whole syntax tree
   * of a big pool never exists at once and its short-lived nodes die young. Included files are parsed as usual
   * (they are cached and copied per #include). The tree returned is then only for that resolver.
   */
  direct?: (node: ComponentNode) => Value
}

/** A lone reference or value that does not parse (parseReference/parseValue); carries every diagnostic. */
export class SfSyntaxError extends Error {
  override readonly name = 'SfSyntaxError'
  readonly diagnostics: Diagnostic[]
  readonly pos: SourcePos
  constructor (diagnostics: Diagnostic[]) {
    super(diagnostics.map(formatDiagnostic).join('\n'))
    this.diagnostics = diagnostics
    this.pos = diagnostics[0].pos
  }
}

/** What a parse gives: the tree, its diagnostics, and the table that decodes the tree's positions. */
export interface Parsed { file: SfFile, diagnostics: Diagnostic[], positions: PosTable }

/** Parses `text` as the file `file` (used for positions and for includes relative to it). */
export function parseText (text: string, file: string, options: ParseOptions = {}): Parsed {
  const diag = new DiagnosticBag()
  const names = uniqueNames()
  const parseAttrs = (t: string, f: string, hook: IncludeHook) =>
    new Grammar(t, f, { diag, names, include: hook, tabWidth: options.tabWidth }).file()
  const session = includeSession(options, diag, parseAttrs)
  session.enterRoot(file)
  const attrs = new Grammar(text, file, { diag, names, include: session.hook, tabWidth: options.tabWidth, direct: options.direct }).file()
  return { file: { attrs, files: session.files }, diagnostics: diag.items, positions: diag.positions }
}


/** Reads and parses a file; throws SfFileNotFoundError when the root file (or a non-optional include) is missing. */
export function parseFile (path: string, options: ParseOptions = {}): Parsed {
  const abs = resolve(options.cwd ?? process.cwd(), path)
  let text: string
  try {
    text = readFileSync(abs, 'utf8')
  } catch {
    throw new SfFileNotFoundError(path, [abs])
  }
  return parseText(text, path, options)
}

function parseLone (text: string, what: 'value' | 'reference'): Value {
  const diag = new DiagnosticBag()
  const names: UniqueNames = uniqueNames()
  const file = `<${what}>`
  const noIncludes: IncludeHook = () => []
  const value = new Grammar(text, file, { diag, names, include: noIncludes, lone: what }).lone(what)
  if (diag.hasErrors || value === null) {
    const items = diag.items.length > 0
      ? diag.items
      : [{ code: 'SF2001', severity: 'error' as const, message: `not a ${what}`, pos: { file, line: 1, col: 1 } }]
    throw new SfSyntaxError(items)
  }
  return value
}

/** Parses a lone reference, e.g. "LAZY ATTRIB myShell" or "PARENT:a:b" (for run-time LAZY resolution). */
export function parseReference (text: string): Reference {
  const v = parseLone(text, 'reference')
  if (v.type !== 'ref') {
    throw new SfSyntaxError([{ code: 'SF2001', severity: 'error', message: `expected a reference, found ${v.type === 'apply' ? (v.assert ? 'ASSERT' : 'APPLY') : v.type}`, pos: new PosTable().decode(v.pos) }])
  }
  return v
}

/** Parses one value in .sf syntax, e.g. `true`, `"x"`, `[|1,2|]`, `512` (for `sdpeer set`). */
export function parseValue (text: string): Value {
  return parseLone(text, 'value')
}
