import type { Pos, SourcePos } from './ast.ts'
import { PosTable } from './syntax/positions.ts'

// Diagnostics of the .sf toolchain. Codes are stable (tests and users grep them); the message may improve.
// SF1xxx lexical, SF2xxx syntax, SF3xxx includes, SF4xxx type resolution (extends), SF5xxx placement,
// SF6xxx links/references, SF7xxx functions, SF8xxx assertions/schemas/attribute types, SF9xxx semantic
// checks of our components (values that are well typed but cannot deploy).

export type Severity = 'error' | 'warning'

export interface Diagnostic {
  code: string
  severity: Severity
  message: string
  pos: SourcePos
}

export function formatDiagnostic (d: Diagnostic): string {
  return `${d.pos.file}:${d.pos.line}:${d.pos.col}: ${d.severity} ${d.code}: ${d.message}`
}

/** Collects diagnostics, keeping one per position and code, as a recovering parser should. */
export class DiagnosticBag {
  readonly items: Diagnostic[] = []
  readonly #seen = new Set<string>()
  /** Decodes the positions of the parse session this bag reports on. */
  readonly positions: PosTable

  constructor (positions: PosTable = new PosTable()) {
    this.positions = positions
  }

  add (code: string, severity: Severity, message: string, at: Pos | SourcePos): void {
    const pos = typeof at === 'number' ? this.positions.decode(at) : at
    const key = `${pos.file}:${pos.line}:${pos.col}:${severity}`
    if (this.#seen.has(key)) return
    this.#seen.add(key)
    this.items.push({ code, severity, message, pos })
  }

  error (code: string, message: string, pos: Pos | SourcePos): void { this.add(code, 'error', message, pos) }
  warning (code: string, message: string, pos: Pos | SourcePos): void { this.add(code, 'warning', message, pos) }

  get hasErrors (): boolean { return this.items.some(d => d.severity === 'error') }
}

/** A file or include that cannot be read: exit status 2, not a diagnostic of the description. */
export class SfFileNotFoundError extends Error {
  override readonly name = 'SfFileNotFoundError'
  readonly path: string
  readonly tried: string[]
  readonly from?: SourcePos
  constructor (path: string, tried: string[], from?: SourcePos) {
    super(`cannot find ${JSON.stringify(path)}${from ? ` (included at ${from.file}:${from.line}:${from.col})` : ''}; tried: ${tried.join(', ')}`)
    this.path = path
    this.tried = tried
    this.from = from
  }
}
