import type { Pos, SourcePos } from '../ast.ts'

// Source positions as one number each (ast.ts `Pos`): a node or token records `base + offset`, where `base` is
// where its file starts in the parse session's PosTable, and the table turns the number into FILE:LINE:COL only
// when a diagnostic is made. A pool of 10,000 VMs has ~220,000 positions: as `{file, line, col}` objects they were
// 10 MiB of the syntax tree and 8 MiB of the resolved one, and as many objects for the collector to copy.
// `\uXXXX` escapes are decoded before lexing (as JavaCC's JAVA_UNICODE_ESCAPE does) and mapped back so that
// columns refer to the file as written.

export interface UnicodeEscapes {
  /** Offset of each decoded escape character in the decoded text (increasing). */
  decoded: number[]
  /** Offset of the backslash of each escape in the raw text. */
  rawStart: number[]
  /** Offset just after each escape in the raw text. */
  rawEnd: number[]
}

const HEX = /^[0-9a-fA-F]{4}$/

/** Decodes Java-style `\uXXXX` (also `\uuuuXXXX`), not when the backslash is itself escaped (`\\u0041`). */
export function decodeUnicodeEscapes (raw: string): { text: string, escapes: UnicodeEscapes | null } {
  let k = raw.indexOf('\\u')
  if (k < 0) return { text: raw, escapes: null }
  const parts: string[] = []
  const escapes: UnicodeEscapes = { decoded: [], rawStart: [], rawEnd: [] }
  let copied = 0
  let outLen = 0
  while (k >= 0) {
    let backslashes = 0
    for (let b = k - 1; b >= 0 && raw.charCodeAt(b) === 0x5c; b--) backslashes++
    let u = k + 1
    while (raw.charCodeAt(u) === 0x75) u++
    const hex = raw.slice(u, u + 4)
    if (backslashes % 2 === 0 && HEX.test(hex)) {
      parts.push(raw.slice(copied, k))
      outLen += k - copied
      parts.push(String.fromCharCode(parseInt(hex, 16)))
      escapes.decoded.push(outLen)
      escapes.rawStart.push(k)
      escapes.rawEnd.push(u + 4)
      outLen += 1
      copied = u + 4
      k = raw.indexOf('\\u', copied)
    } else {
      k = raw.indexOf('\\u', k + 1)
    }
  }
  if (escapes.decoded.length === 0) return { text: raw, escapes: null }
  parts.push(raw.slice(copied))
  return { text: parts.join(''), escapes }
}


interface Source {
  base: number
  /** Offsets up to `base + length` (the decoded text's length, EOF included) belong to this source. */
  length: number
  file: string
  raw: string
  escapes: UnicodeEscapes | null
  tab: number
  /** Raw offset of the start of each line, made at the first decode. */
  lineStarts?: Int32Array
}

/** File names of lone parses (parseValue/parseReference), whose positions are self-contained (see `lone`). */
const LONE_FILES = ['<value>', '<reference>'] as const
const LONE_COL_BITS = 19
const LONE_MAX_LINE = 2 ** (29 - LONE_COL_BITS) - 1
const LONE_MAX_COL = 2 ** LONE_COL_BITS - 1

/**
 * The sources of one parse session (the root file and its includes), each given a range of position numbers.
 * Numbers stay below 2^31 (V8 small integers, stored without an object) for up to 2 GiB of text per session.
 * Negative numbers are self-contained positions of lone parses, decodable by any table: the values they produce
 * outlive their parse (`sdpeer set` values, IPROPERTY values built into a resolved tree).
 */
export class PosTable {
  readonly #sources: Source[] = []
  #next = 0

  /** Registers a source and returns its base: the position of decoded offset `o` is `base + o`. */
  add (raw: string, decodedLength: number, file: string, escapes: UnicodeEscapes | null, tabWidth: number): number {
    const base = this.#next
    this.#sources.push({ base, length: decodedLength, file, raw, escapes, tab: Math.max(1, tabWidth) })
    this.#next = base + decodedLength + 1
    return base
  }

  /** A self-contained position of a lone parse: line and column packed into a negative number. */
  static lone (what: 'value' | 'reference', line: number, col: number): Pos {
    const l = Math.min(line, LONE_MAX_LINE)
    const c = Math.min(col, LONE_MAX_COL)
    return -1 - ((((l << LONE_COL_BITS) | c) * 2) + (what === 'value' ? 0 : 1))
  }

  /** The position as FILE:LINE:COL (1-based line and column). */
  decode (pos: Pos): SourcePos {
    if (pos < 0) {
      const k = -1 - pos
      const lc = Math.floor(k / 2)
      return { file: LONE_FILES[k % 2]!, line: Math.floor(lc / 2 ** LONE_COL_BITS), col: lc % 2 ** LONE_COL_BITS }
    }
    const src = this.#find(pos)
    if (src === undefined) return { file: '<input>', line: 1, col: 1 }
    return lineCol(src, pos - src.base)
  }

  /** The line of `pos` (error recovery compares lines). */
  line (pos: Pos): number { return this.decode(pos).line }

  #find (pos: number): Source | undefined {
    const s = this.#sources
    let lo = 0
    let hi = s.length - 1
    let found: Source | undefined
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (s[mid]!.base <= pos) { found = s[mid]; lo = mid + 1 } else hi = mid - 1
    }
    return found
  }
}

/** Line and column of a decoded offset of `src`. */
export function lineCol (src: { raw: string, escapes: UnicodeEscapes | null, tab: number, file: string, lineStarts?: Int32Array }, decoded: number): SourcePos {
  const raw = src.raw
  const off = Math.min(toRaw(src.escapes, decoded), raw.length)
  const starts = src.lineStarts ??= lineStartsOf(raw)
  let lo = 0
  let hi = starts.length - 1
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1
    if (starts[mid]! <= off) lo = mid; else hi = mid - 1
  }
  const start = starts[lo]!
  let col = 1
  if (src.tab === 1) {
    col = off - start + 1
  } else {
    for (let k = start; k < off; k++) col += raw.charCodeAt(k) === 0x09 ? src.tab - ((col - 1) % src.tab) : 1
  }
  return { file: src.file, line: lo + 1, col }
}

/** Line ends are `\n`, `\r\n` and a lone `\r`. */
function lineStartsOf (raw: string): Int32Array {
  const starts: number[] = [0]
  for (let k = 0; k < raw.length; k++) {
    const c = raw.charCodeAt(k)
    if (c === 0x0a || (c === 0x0d && raw.charCodeAt(k + 1) !== 0x0a)) starts.push(k + 1)
  }
  return Int32Array.from(starts)
}

function toRaw (e: UnicodeEscapes | null, d: number): number {
  if (!e) return d
  // Last escape at or before d.
  let lo = 0
  let hi = e.decoded.length - 1
  let found = -1
  while (lo <= hi) {
    const mid = (lo + hi) >> 1
    if (e.decoded[mid]! <= d) { found = mid; lo = mid + 1 } else hi = mid - 1
  }
  if (found < 0) return d
  if (e.decoded[found] === d) return e.rawStart[found]!
  return e.rawEnd[found]! + (d - e.decoded[found]! - 1)
}
