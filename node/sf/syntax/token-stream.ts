import type { Attribute, ComponentNode, Pos, Value } from '../ast.ts'
import type { DiagnosticBag } from '../diagnostics.ts'
import { Lexer, type Token, type TokenKind } from '../lexer.ts'
import type { UniqueNames } from './desugar.ts'

// The parser's token handling and error recovery, apart from the grammar rules (grammar.ts): one token of
// lookahead, diagnostics that remember where the last syntax error was, balanced skipping, and the depth guard.

export const SyntaxCode = {
  unexpected: 'SF2001',
  unclosed: 'SF2002',
  mixedOperators: 'SF2003',
  tooDeep: 'SF2004',
  strayClose: 'SF2005',
  missingPrototype: 'SF2006',
  unsupported: 'SF2007'
} as const

export const MAX_DEPTH = 1000

/** Splices an `#include` in place: returns the included file's attributes (or none). */
export type IncludeHook = (path: string, optional: boolean, at: Pos, fromFile: string) => Attribute[]

export interface GrammarContext {
  diag: DiagnosticBag
  names: UniqueNames
  include: IncludeHook
  tabWidth?: number
  /** A lone value or reference: self-contained positions (lexer.ts). */
  lone?: 'value' | 'reference'
  /** Turns each component, once parsed, into what replaces it in the tree (ParseOptions.direct). */
  direct?: (node: ComponentNode) => Value
}

export const REF_START: ReadonlySet<TokenKind> = new Set<TokenKind>([
  'ROOT', 'PARENT', 'THIS', 'PROCESS', 'WORD', 'ATTRIB', 'HERE', 'PROPERTY', 'IPROPERTY', 'ENVPROPERTY',
  'IENVPROPERTY', 'CONSTANT', 'HOST'
])
export const NAMED_PARTS: ReadonlySet<TokenKind> = new Set<TokenKind>([
  'ATTRIB', 'HERE', 'PROPERTY', 'IPROPERTY', 'ENVPROPERTY', 'IENVPROPERTY', 'CONSTANT', 'HOST'
])
export const ATTR_START: ReadonlySet<TokenKind> = new Set<TokenKind>(['WORD', 'STRING', '--', '['])
export const OPENERS: Readonly<Partial<Record<TokenKind, TokenKind>>> = {
  '{': '}', '(': ')', '[': ']', '[|': '|]', IF: 'FI', SWITCH: 'ENDSWITCH'
}
export const CLOSERS: ReadonlySet<TokenKind> = new Set<TokenKind>(['}', ')', ']', '|]', 'FI', 'ENDSWITCH'])

export class TokenStream {
  protected readonly lx: Lexer
  protected readonly ctx: GrammarContext
  protected readonly fileName: string
  protected tok: Token
  protected syntaxErrors = 0
  #depth = 0
  #tooDeepReported = false
  /** Line of the last syntax error (lexical errors do not move it). */
  #errorLine = 0

  constructor (text: string, file: string, ctx: GrammarContext) {
    this.lx = new Lexer(text, file, ctx.diag, { tabWidth: ctx.tabWidth, lone: ctx.lone })
    this.ctx = ctx
    this.fileName = file
    this.tok = this.lx.next()
  }

  // ---- tokens and errors ---------------------------------------------------------------------------

  /** The current token's kind (a method, so that TypeScript does not keep a narrowing across #next()). */
  protected peek (): TokenKind { return this.tok.kind }

  protected next (): Token {
    const t = this.tok
    this.tok = this.lx.next()
    return t
  }

  protected error (code: string, message: string, pos: Pos): void {
    this.#errorLine = this.ctx.diag.positions.line(pos)
    this.syntaxErrors++
    this.ctx.diag.error(code, message, pos)
  }

  protected unexpected (expected: string): void {
    this.error(SyntaxCode.unexpected, `expected ${expected}, found ${describe(this.tok)}`, this.tok.pos)
  }

  /** Consumes `kind` or reports it missing and skips to it (balanced), stopping before `;`, `}` or EOF. */
  protected close (kind: TokenKind, opened: Token): boolean {
    if (this.peek() === kind) { this.next(); return true }
    this.unexpected(`"${kind}" to close "${opened.image}" at ${this.lineCol(opened.pos)}`)
    for (;;) {
      const k = this.peek()
      if (k === kind) { this.next(); return false }
      if (k === 'EOF' || k === ';' || k === '}' || CLOSERS.has(k)) return false
      if (OPENERS[k] !== undefined) this.skipBalanced()
      else this.next()
    }
  }

  /** Skips the construct opened by the current token, through its matching closer (iteratively). */
  protected skipBalanced (): void {
    const stack: TokenKind[] = []
    do {
      const k = this.peek()
      if (k === 'EOF') return
      const closer = OPENERS[k]
      if (closer !== undefined) stack.push(closer)
      else if (k === stack[stack.length - 1]) stack.pop()
      this.next()
    } while (stack.length > 0)
  }

  /** Guards every construct that nests; false (after one diagnostic per file) when too deep, construct skipped. */
  protected enter (): boolean {
    if (this.#depth < MAX_DEPTH) { this.#depth++; return true }
    if (!this.#tooDeepReported) {
      this.#tooDeepReported = true
      this.error(SyntaxCode.tooDeep, `nesting deeper than ${MAX_DEPTH} levels`, this.tok.pos)
    }
    this.skipBalanced()
    return false
  }

  protected leave (): void { this.#depth-- }

  /** `LINE:COL` of a position, for messages that name where a construct was opened. */
  protected lineCol (pos: Pos): string {
    const p = this.ctx.diag.positions.decode(pos)
    return `${p.line}:${p.col}`
  }

  /**
   * Last line of defence: MAX_DEPTH keeps a parse well inside a default stack, but a caller may already be deep
   * in its own recursion. A stack overflow then becomes a diagnostic (what was parsed so far is kept), never a crash.
   */
  protected guardStack (parse: () => void): void {
    try {
      parse()
    } catch (err) {
      if (!(err instanceof RangeError) || !/call stack/i.test(err.message)) throw err
      this.error(SyntaxCode.tooDeep, 'nesting too deep for the parser\'s stack here (the caller is already deeply nested)', this.tok.pos)
    }
  }

  /**
   * After an error in an attribute: skip the rest of the error's line up to a `;`, then anything that cannot
   * start an attribute. Semicolons are optional in .sf, so the line is the best guess of where a statement ends.
   */
  protected skipStatement (): void {
    const line = this.#errorLine
    for (;;) {
      const k = this.peek()
      if (k === 'EOF' || k === '}' || k === '#include' || k === '#include?' || k === '#codebase') return
      if (k === ';') { this.next(); return }
      if (ATTR_START.has(k) && this.ctx.diag.positions.line(this.tok.pos) !== line) return
      if (OPENERS[k] !== undefined && k !== '[') this.skipBalanced()
      else this.next()
    }
  }
}

export function describe (t: Token): string {
  switch (t.kind) {
    case 'EOF': return 'end of file'
    case 'WORD': return `word "${t.image}"`
    case 'STRING': return `string ${t.image.length > 40 ? t.image.slice(0, 37) + '...' : t.image}`
    case 'INT': case 'LONG': case 'FLOAT': case 'DOUBLE': return `number ${t.image}`
    case 'BYTES': return 'byte array'
    default: return `"${t.image}"`
  }
}
