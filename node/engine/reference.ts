import type { SfJson } from '../sf/sfjson.ts'

// The text of a reference kept in the resolved tree (`{"$ref": "LAZY ATTRIB myShell"}`), parsed into parts the
// engine walks against the live component tree. This is a small local reader of the reference syntax of
// sf-language.md §9 so the engine does not wait for the parser; it understands LAZY/DATA, OPTIONAL(default) and the
// parts ATTRIB n, HERE n, PARENT, ROOT, THIS, bare words, chained with ':'.

export type RefPart =
  | { kind: 'ATTRIB', name: string }
  | { kind: 'HERE', name: string }
  | { kind: 'PARENT' }
  | { kind: 'ROOT' }
  | { kind: 'THIS' }

export interface ParsedReference {
  lazy: boolean
  data: boolean
  optional: boolean
  /** The OPTIONAL default (null when omitted). */
  defaultValue: SfJson
  parts: RefPart[]
}

export class ReferenceSyntaxError extends Error {
  override readonly name = 'ReferenceSyntaxError'
  readonly text: string
  constructor (text: string, message: string) {
    super(`reference ${JSON.stringify(text)}: ${message}`)
    this.text = text
  }
}

const WORD = /^[A-Za-z_][A-Za-z0-9_.-]*$/

export function parseReferenceText (text: string): ParsedReference {
  let rest = text.trim()
  const out: ParsedReference = { lazy: false, data: false, optional: false, defaultValue: null, parts: [] }
  for (;;) {
    const m = /^(LAZY|DATA)\s+/.exec(rest)
    if (!m) break
    if (m[1] === 'LAZY') out.lazy = true; else out.data = true
    rest = rest.slice(m[0].length)
  }
  const opt = /^OPTIONAL\b\s*/.exec(rest)
  if (opt) {
    out.optional = true
    rest = rest.slice(opt[0].length)
    if (rest.startsWith('(')) {
      const close = findClose(rest)
      if (close < 0) throw new ReferenceSyntaxError(text, 'unclosed OPTIONAL default')
      out.defaultValue = parseSimpleValue(text, rest.slice(1, close).trim())
      rest = rest.slice(close + 1).trim()
    }
  }
  if (rest === '') throw new ReferenceSyntaxError(text, 'empty reference')
  const pieces = rest.split(':').map(p => p.trim())
  pieces.forEach((piece, i) => {
    const words = piece.split(/\s+/)
    const [kw, arg] = words
    if (words.length > 2) throw new ReferenceSyntaxError(text, `bad part ${JSON.stringify(piece)}`)
    if (kw === 'PARENT' || kw === 'ROOT' || kw === 'THIS') {
      if (arg !== undefined) throw new ReferenceSyntaxError(text, `${kw} takes no name`)
      out.parts.push({ kind: kw })
    } else if (kw === 'ATTRIB' || kw === 'HERE') {
      if (arg === undefined || !WORD.test(arg)) throw new ReferenceSyntaxError(text, `${kw} needs a name`)
      out.parts.push({ kind: kw, name: arg })
    } else if (words.length === 1 && WORD.test(kw)) {
      out.parts.push(i === 0 ? { kind: 'ATTRIB', name: kw } : { kind: 'HERE', name: kw })
    } else {
      throw new ReferenceSyntaxError(text, `unsupported part ${JSON.stringify(piece)}`)
    }
  })
  return out
}

function findClose (s: string): number {
  let depth = 0
  let inString = false
  for (let i = 0; i < s.length; i++) {
    const c = s[i]
    if (inString) { if (c === '\\') i++; else if (c === '"') inString = false; continue }
    if (c === '"') inString = true
    else if (c === '(') depth++
    else if (c === ')' && --depth === 0) return i
  }
  return -1
}

/** Literal values of .sf (enough for OPTIONAL defaults and `set` from the CLI): numbers, strings, booleans, NULL. */
export function parseSimpleValue (context: string, t: string): SfJson {
  if (t === 'NULL' || t === '') return null
  if (t === 'true') return true
  if (t === 'false') return false
  if (/^-?\d+[lL]?$/.test(t)) return Number(t.replace(/[lL]$/, ''))
  if (/^-?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?[fFdD]?$/.test(t)) return Number(t.replace(/[fFdD]$/, ''))
  if (t.startsWith('"') && t.endsWith('"') && t.length >= 2) {
    try { return JSON.parse(t) as string } catch { /* fall through */ }
  }
  throw new ReferenceSyntaxError(context, `cannot read value ${JSON.stringify(t)}`)
}

export function formatReference (parts: RefPart[]): string {
  return parts.map(p => 'name' in p ? `${p.kind} ${p.name}` : p.kind).join(':')
}
