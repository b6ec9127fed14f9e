import type { Pos } from './ast.ts'
import type { DiagnosticBag } from './diagnostics.ts'
import { decodeUnicodeEscapes, lineCol, PosTable } from './syntax/positions.ts'

// The .sf scanner (sf-language.md §2): a pull lexer over the whole text, one token at a time, so a 50 MB file
// never becomes an array of millions of token objects. Lexical errors go to the DiagnosticBag and the scanner
// carries on, as JavaCC's TokenMgrError would not: the parser decides what to do with what follows.

/** Diagnostic codes of the lexer (stable; see diagnostics.ts). */
export const LexCode = {
  unexpectedChar: 'SF1001',
  newlineInString: 'SF1002',
  badEscape: 'SF1003',
  intRange: 'SF1004',
  unterminatedString: 'SF1005',
  unterminatedComment: 'SF1006',
  badByteArray: 'SF1007',
  longRange: 'SF1008'
} as const

export type TokenKind =
  | 'EOF' | 'WORD' | 'STRING' | 'INT' | 'LONG' | 'FLOAT' | 'DOUBLE' | 'BYTES'
  | '{' | '}' | '[' | ']' | '[|' | '|]' | '(' | ')' | ',' | ':' | ';' | '--'
  | '++' | '<>' | '+' | '-' | '*' | '/' | '%' | '==' | '!=' | '>=' | '<=' | '>' | '<' | '&&' | '||' | 'x|' | '!' | '->'
  | 'APPLY' | 'ASSERT' | 'ATTRIB' | '#codebase' | 'DATA' | 'extends' | 'false' | 'true' | 'HERE' | 'HOST'
  | '#include' | '#include?' | 'PROPERTY' | 'IPROPERTY' | 'ENVPROPERTY' | 'IENVPROPERTY' | 'CONSTANT' | 'LAZY'
  | 'NULL' | 'OPTIONAL' | 'PARENT' | 'PROCESS' | 'ROOT' | 'TBD' | 'THIS' | 'IF' | 'THEN' | 'ELSE' | 'FI'
  | 'SWITCH' | 'ENDSWITCH' | 'VAR'

type TokenValue = string | number | bigint | Uint8Array | undefined

/** One token. A class with every field set, so that property reads stay monomorphic in the hot loop. */
export class Token {
  kind: TokenKind
  /** Source text of the token (for messages and reference text). */
  image: string
  /** Decoded value: string for WORD/STRING, number for INT/FLOAT/DOUBLE, bigint for LONG, bytes for BYTES. */
  value: TokenValue
  /** BYTES only. */
  radix: 'HEX' | 'DEC' | 'OCT' | 'BIN' | 'B64' | undefined = undefined
  /** STRING only: written as `##...#`. */
  multiline = false
  /** Offsets in the (unicode-decoded) text. */
  start: number
  end: number
  /** Where the token starts, as a session position (ast.ts Pos). */
  readonly pos: Pos

  constructor (kind: TokenKind, image: string, value: TokenValue, start: number, end: number, pos: Pos) {
    this.kind = kind
    this.image = image
    this.value = value
    this.start = start
    this.end = end
    this.pos = pos
  }
}

const KEYWORDS: ReadonlySet<string> = new Set([
  'APPLY', 'ASSERT', 'ATTRIB', 'DATA', 'extends', 'false', 'true', 'HERE', 'HOST', 'PROPERTY', 'IPROPERTY',
  'ENVPROPERTY', 'IENVPROPERTY', 'CONSTANT', 'LAZY', 'NULL', 'OPTIONAL', 'PARENT', 'PROCESS', 'ROOT', 'TBD', 'THIS',
  'IF', 'THEN', 'ELSE', 'FI', 'SWITCH', 'ENDSWITCH', 'VAR'
])

// Character classes as a lookup table over Latin-1 (the grammar's LETTER set stops at U+00FF).
const LETTER = 1
const DIGIT = 2
const SPECIAL = 4
const CLASS = new Uint8Array(256)
for (let c = 0x41; c <= 0x5a; c++) CLASS[c] = LETTER
for (let c = 0x61; c <= 0x7a; c++) CLASS[c] = LETTER
for (let c = 0x30; c <= 0x39; c++) CLASS[c] = DIGIT
for (const c of [0x24, 0x5f, 0xaa, 0xb5, 0xba]) CLASS[c] = LETTER
for (let c = 0xa2; c <= 0xa5; c++) CLASS[c] = LETTER
for (let c = 0xc0; c <= 0xff; c++) if (c !== 0xd7 && c !== 0xf7) CLASS[c] = LETTER
for (const ch of '._-+@#~$%^&') CLASS[ch.charCodeAt(0)] |= SPECIAL

const isLetter = (c: number): boolean => c < 256 && (CLASS[c] & LETTER) !== 0
const isWordChar = (c: number): boolean => c < 256 && CLASS[c] !== 0
const isDigit = (c: number): boolean => c >= 0x30 && c <= 0x39

const SIMPLE_ESCAPES: Record<string, string> = { n: '\n', t: '\t', b: '\b', r: '\r', f: '\f', '\\': '\\', "'": "'", '"': '"' }

const WORD_TABLE_LIMIT = 4096

const INT_MIN = -2147483648
const INT_MAX = 2147483647
const LONG_MIN = -(2n ** 63n)
const LONG_MAX = 2n ** 63n - 1n

export interface LexerOptions {
  /** Columns a tab advances to (JavaCC, hence HP's messages, uses 8); default 1 = UTF-16 code units. */
  tabWidth?: number
  /** A lone value or reference (parser.ts): positions are self-contained (PosTable.lone), not session numbers. */
  lone?: 'value' | 'reference'
}

export class Lexer {
  readonly text: string
  readonly file: string
  readonly #diag: DiagnosticBag
  /** Position of decoded offset 0 in the session's table. */
  readonly #base: number
  readonly #lone: { what: 'value' | 'reference', raw: string, escapes: ReturnType<typeof decodeUnicodeEscapes>['escapes'], tab: number, file: string } | undefined
  #i = 0

  constructor (rawText: string, file: string, diag: DiagnosticBag, options: LexerOptions = {}) {
    const decoded = decodeUnicodeEscapes(rawText)
    this.text = decoded.text
    this.file = file
    this.#diag = diag
    const tab = options.tabWidth ?? 1
    if (options.lone !== undefined) {
      this.#base = 0
      this.#lone = { what: options.lone, raw: rawText, escapes: decoded.escapes, tab: Math.max(1, tab), file }
    } else {
      this.#base = diag.positions.add(rawText, decoded.text.length, file, decoded.escapes, tab)
      this.#lone = undefined
    }
  }

  /** Position of an offset of the decoded text. */
  posAt (offset: number): Pos {
    const lone = this.#lone
    if (lone === undefined) return this.#base + offset
    const p = lineCol(lone, offset)
    return PosTable.lone(lone.what, p.line, p.col)
  }

  /** Where an end-of-file token sits: on the last character, as JavaCC reports it. */
  eofPos (): Pos { return this.posAt(Math.max(0, this.text.length - 1)) }

  next (): Token {
    const t = this.text
    const n = t.length
    for (;;) {
      this.#skipTrivia()
      const i = this.#i
      if (i >= n) {
        return new Token('EOF', '', undefined, n, n, this.eofPos())
      }
      const c = t.charCodeAt(i)
      if (isLetter(c)) return this.#word(i)
      if (isDigit(c)) return this.#number(i)
      switch (c) {
        case 0x22: return this.#string(i) // "
        case 0x23: { // #
          const tok = this.#hash(i)
          if (tok) return tok
          continue
        }
        case 0x7b: return this.#punct(i, '{', 1)
        case 0x7d: return this.#punct(i, '}', 1)
        case 0x5b: return t.charCodeAt(i + 1) === 0x7c ? this.#punct(i, '[|', 2) : this.#punct(i, '[', 1)
        case 0x5d: return this.#punct(i, ']', 1)
        case 0x7c: // |
          if (t.charCodeAt(i + 1) === 0x5d) return this.#punct(i, '|]', 2)
          if (t.charCodeAt(i + 1) === 0x7c) return this.#punct(i, '||', 2)
          break
        case 0x28: return this.#punct(i, '(', 1)
        case 0x29: return this.#punct(i, ')', 1)
        case 0x2c: return this.#punct(i, ',', 1)
        case 0x3a: return this.#punct(i, ':', 1)
        case 0x3b: return this.#punct(i, ';', 1)
        case 0x2d: { // -
          const d = t.charCodeAt(i + 1)
          if (d === 0x2d) return this.#punct(i, '--', 2)
          if (d === 0x3e) return this.#punct(i, '->', 2)
          if (isDigit(d) || (d === 0x2e && isDigit(t.charCodeAt(i + 2)))) return this.#number(i)
          return this.#punct(i, '-', 1)
        }
        case 0x2e: // .
          if (isDigit(t.charCodeAt(i + 1))) return this.#number(i)
          break
        case 0x2b: return t.charCodeAt(i + 1) === 0x2b ? this.#punct(i, '++', 2) : this.#punct(i, '+', 1)
        case 0x3c: { // <
          const d = t.charCodeAt(i + 1)
          if (d === 0x3e) return this.#punct(i, '<>', 2)
          if (d === 0x3d) return this.#punct(i, '<=', 2)
          return this.#punct(i, '<', 1)
        }
        case 0x3e: return t.charCodeAt(i + 1) === 0x3d ? this.#punct(i, '>=', 2) : this.#punct(i, '>', 1)
        case 0x3d: if (t.charCodeAt(i + 1) === 0x3d) return this.#punct(i, '==', 2); break
        case 0x21: return t.charCodeAt(i + 1) === 0x3d ? this.#punct(i, '!=', 2) : this.#punct(i, '!', 1)
        case 0x2a: return this.#punct(i, '*', 1)
        case 0x2f: return this.#punct(i, '/', 1)
        case 0x25: return this.#punct(i, '%', 1)
        case 0x26: if (t.charCodeAt(i + 1) === 0x26) return this.#punct(i, '&&', 2); break
      }
      this.#error(LexCode.unexpectedChar, `unexpected character ${describeChar(t, i)}`, i)
      this.#i = i + (c >= 0xd800 && c <= 0xdbff ? 2 : 1)
    }
  }

  /**
   * One string per distinct word: a pool repeats the same few attribute and component names hundreds of thousands
   * of times, and each would otherwise keep its own copy in the syntax tree (the slice itself dies young; hashing
   * the characters in JavaScript while scanning was measured slower than V8 hashing the slice).
   */
  readonly #words = new Map<string, string>()
  #intern (w: string): string {
    const known = this.#words.get(w)
    if (known !== undefined) return known
    // Bounded: the words that recur are met early (the library, the first components); past this, a pool's words
    // are its one-of-a-kind names (vm1234, disk1234), which a table would only keep alive until the parse ends.
    if (this.#words.size < WORD_TABLE_LIMIT) this.#words.set(w, w)
    return w
  }

  #make (kind: TokenKind, image: string, value: TokenValue, start: number, end: number, at: number): Token {
    return new Token(kind, image, value, start, end, this.#lone === undefined ? this.#base + at : this.posAt(at))
  }

  #error (code: string, message: string, offset: number): void {
    this.#diag.error(code, message, this.posAt(offset))
  }

  #punct (i: number, kind: TokenKind, len: number): Token {
    this.#i = i + len
    return this.#make(kind, kind, undefined, i, i + len, i)
  }

  #skipTrivia (): void {
    const t = this.text
    const n = t.length
    let i = this.#i
    while (i < n) {
      const c = t.charCodeAt(i)
      if (c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d || c === 0x0c) { i++; continue }
      if (c === 0xfeff && i === 0) { i++; continue } // a UTF-8 byte-order mark written by some editors
      if (c === 0x2f) {
        const d = t.charCodeAt(i + 1)
        if (d === 0x2f) {
          const nl = t.indexOf('\n', i + 2)
          i = nl < 0 ? n : nl + 1
          continue
        }
        if (d === 0x2a) {
          const close = t.indexOf('*/', i + 2)
          if (close < 0) {
            this.#error(LexCode.unterminatedComment, 'comment "/*" is never closed', i)
            i = n
          } else {
            i = close + 2
          }
          continue
        }
      }
      break
    }
    this.#i = i
  }

  #word (i: number): Token {
    const t = this.text
    let j = i + 1
    while (j < t.length && isWordChar(t.charCodeAt(j))) j++
    const image = this.#intern(t.slice(i, j))
    // `x|` is the xor token: longest match beats the one-letter word `x`.
    if (j === i + 1 && image === 'x' && t.charCodeAt(j) === 0x7c) return this.#punct(i, 'x|', 2)
    this.#i = j
    const kind: TokenKind = KEYWORDS.has(image) ? image as TokenKind : 'WORD'
    return this.#make(kind, image, image, i, j, i)
  }

  #number (i: number): Token {
    const t = this.text
    let j = i
    if (t.charCodeAt(j) === 0x2d) j++
    const digitsStart = j
    while (isDigit(t.charCodeAt(j))) j++
    const intDigits = j > digitsStart
    let isFloat = false
    if (t.charCodeAt(j) === 0x2e && (intDigits || isDigit(t.charCodeAt(j + 1)))) {
      isFloat = true
      j++
      while (isDigit(t.charCodeAt(j))) j++
    }
    const e = t.charCodeAt(j)
    if (e === 0x65 || e === 0x45) {
      let k = j + 1
      const s = t.charCodeAt(k)
      if (s === 0x2b || s === 0x2d) k++
      if (isDigit(t.charCodeAt(k))) {
        while (isDigit(t.charCodeAt(k))) k++
        j = k
        isFloat = true
      }
    }
    const suffix = t.charCodeAt(j)
    if (suffix === 0x64 || suffix === 0x44) { // d D
      this.#i = j + 1
      return this.#make('DOUBLE', t.slice(i, j + 1), Number(t.slice(i, j)), i, j + 1, i)
    }
    if (suffix === 0x66 || suffix === 0x46) { // f F
      this.#i = j + 1
      return this.#make('FLOAT', t.slice(i, j + 1), Number(t.slice(i, j)), i, j + 1, i)
    }
    if (isFloat) {
      // SmartFrog drops the last character of an unsuffixed decimal (`1.5` -> 1.0); we deliberately read it whole.
      this.#i = j
      return this.#make('FLOAT', t.slice(i, j), Number(t.slice(i, j)), i, j, i)
    }
    if (suffix === 0x6c || suffix === 0x4c) { // l L
      this.#i = j + 1
      const image = t.slice(i, j + 1)
      let value = BigInt(t.slice(i, j))
      if (value < LONG_MIN || value > LONG_MAX) {
        this.#error(LexCode.longRange, `long ${image} is out of the 64-bit range`, i)
        value = 0n
      }
      return this.#make('LONG', image, value, i, j + 1, i)
    }
    this.#i = j
    const image = t.slice(i, j)
    let value = Number(image)
    if (value < INT_MIN || value > INT_MAX) {
      this.#error(LexCode.intRange, `integer ${image} is out of the 32-bit range (write ${image}L for a long)`, i)
      value = 0
    }
    return this.#make('INT', image, value, i, j, i)
  }

  #string (i: number): Token {
    const t = this.text
    const n = t.length
    let j = i + 1
    let out = ''
    let runStart = j
    for (;;) {
      if (j >= n) {
        this.#error(LexCode.unterminatedString, 'string is never closed', i)
        out += t.slice(runStart, j)
        break
      }
      const c = t.charCodeAt(j)
      if (c === 0x22) { out += t.slice(runStart, j); j++; break }
      if (c === 0x0a || c === 0x0d) {
        // JavaCC reports the newline itself; the string ends there so the next line lexes normally.
        this.#error(LexCode.newlineInString, 'newline in a string (use \\n, or a ##...# multi-line string)', j)
        out += t.slice(runStart, j)
        break
      }
      if (c === 0x5c) {
        out += t.slice(runStart, j)
        j = this.#escape(j, 0x22)
        out += this.#lastEscape
        runStart = j
        continue
      }
      j++
    }
    this.#i = j
    return this.#make('STRING', t.slice(i, j), out, i, j, i)
  }

  #lastEscape = ''

  /** Decodes the escape at `j` (a backslash) into #lastEscape; returns the offset after it. */
  #escape (j: number, quote: number): number {
    const t = this.text
    const d = t[j + 1] ?? ''
    const simple = SIMPLE_ESCAPES[d]
    if (simple !== undefined && (d !== '"' || quote === 0x22)) { this.#lastEscape = simple; return j + 2 }
    if (d === '#' && quote === 0x23) { this.#lastEscape = '#'; return j + 2 }
    if (/^[0-3][0-7][0-7]$/.test(t.slice(j + 1, j + 4))) {
      this.#lastEscape = String.fromCharCode(parseInt(t.slice(j + 1, j + 4), 8))
      return j + 4
    }
    this.#error(LexCode.badEscape, `invalid escape ${JSON.stringify('\\' + d)}`, j)
    this.#lastEscape = d
    return d === '' ? j + 1 : j + 2
  }

  /** `#` starts a multi-line string, a byte array or a directive; returns null after reporting a lexical error. */
  #hash (i: number): Token | null {
    const t = this.text
    if (t.charCodeAt(i + 1) === 0x23) return this.#multiline(i)
    if (t.startsWith('#include?', i)) return this.#punct(i, '#include?', 9)
    if (t.startsWith('#include', i)) return this.#punct(i, '#include', 8)
    if (t.startsWith('#codebase', i)) return this.#punct(i, '#codebase', 9)
    const radix = t.slice(i + 1, i + 4)
    if (t.charCodeAt(i + 4) === 0x23 && (radix === 'HEX' || radix === 'DEC' || radix === 'OCT' || radix === 'BIN' || radix === 'B64')) {
      return this.#bytes(i, radix)
    }
    this.#error(LexCode.unexpectedChar, 'unexpected character "#"', i)
    this.#i = i + 1
    return null
  }

  #multiline (i: number): Token {
    const t = this.text
    const n = t.length
    let j = i + 2
    let out = ''
    let runStart = j
    for (;;) {
      if (j >= n) {
        this.#error(LexCode.unterminatedString, 'multi-line string "##" is never closed with "#"', i)
        out += t.slice(runStart, j)
        break
      }
      const c = t.charCodeAt(j)
      if (c === 0x23) { out += t.slice(runStart, j); j++; break }
      if (c === 0x5c) {
        out += t.slice(runStart, j)
        j = this.#escape(j, 0x23)
        out += this.#lastEscape
        runStart = j
        continue
      }
      j++
    }
    this.#i = j
    const tok = this.#make('STRING', t.slice(i, j), out, i, j, i)
    tok.multiline = true
    return tok
  }

  #bytes (i: number, radix: 'HEX' | 'DEC' | 'OCT' | 'BIN' | 'B64'): Token {
    const t = this.text
    const close = t.indexOf('#', i + 5)
    const end = close < 0 ? t.length : close
    const body = t.slice(i + 5, end).replace(/[ \t\n\r]+/g, '')
    if (close < 0) this.#error(LexCode.badByteArray, `byte array "#${radix}#" is never closed with "#"`, i)
    const allowed = { HEX: /^[0-9a-fA-F]*$/, DEC: /^[0-9]*$/, OCT: /^[0-7]*$/, BIN: /^[01]*$/, B64: /^[0-9a-zA-Z=+/]*$/ }[radix]
    let bytes: Uint8Array = new Uint8Array(0)
    if (!allowed.test(body)) {
      this.#error(LexCode.badByteArray, `invalid character in a #${radix}# byte array`, i)
    } else {
      bytes = decodeBytes(radix, body)
    }
    this.#i = close < 0 ? t.length : close + 1
    const tok = this.#make('BYTES', `#${radix}#${body}#`, bytes, i, this.#i, i)
    tok.radix = radix
    return tok
  }
}

/** SmartFrog's SFByteArray radixes: HEX two digits a byte, DEC three, OCT three, BIN eight, B64 standard base64. */
function decodeBytes (radix: 'HEX' | 'DEC' | 'OCT' | 'BIN' | 'B64', body: string): Uint8Array {
  if (radix === 'B64') return new Uint8Array(Buffer.from(body, 'base64'))
  const width = radix === 'HEX' ? 2 : radix === 'BIN' ? 8 : 3
  const base = radix === 'HEX' ? 16 : radix === 'BIN' ? 2 : radix === 'OCT' ? 8 : 10
  const out = new Uint8Array(Math.ceil(body.length / width))
  for (let k = 0; k < out.length; k++) out[k] = parseInt(body.slice(k * width, (k + 1) * width), base) & 0xff
  return out
}

function describeChar (t: string, i: number): string {
  const cp = t.codePointAt(i) ?? 0
  return `${JSON.stringify(String.fromCodePoint(cp))} (U+${cp.toString(16).toUpperCase().padStart(4, '0')})`
}
