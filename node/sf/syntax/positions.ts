import type { Pos } from '../ast.ts'

// Line/column bookkeeping for the lexer. Positions are asked for in (almost always) increasing order, so a
// forward-moving cursor makes the total cost linear in the file size; `\uXXXX` escapes are decoded before
// lexing (as JavaCC's JAVA_UNICODE_ESCAPE does) and mapped back so columns refer to the file as written.

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

export class PositionMap {
  readonly #raw: string
  readonly #file: string
  readonly #escapes: UnicodeEscapes | null
  readonly #tab: number
  // Cursor: raw offset `#off` is at line `#line`, column `#col`; `#lineStart` is the raw offset of that line.
  #off = 0
  #line = 1
  #col = 1
  #lineStart = 0

  constructor (raw: string, file: string, escapes: UnicodeEscapes | null, tabWidth: number) {
    this.#raw = raw
    this.#file = file
    this.#escapes = escapes
    this.#tab = Math.max(1, tabWidth)
  }

  pos (decodedOffset: number): Pos {
    this.locate(decodedOffset)
    return { file: this.#file, line: this.line, col: this.col }
  }

  /** Line and column of `decodedOffset`, left in `line`/`col` (no allocation: called once per token). */
  line = 1
  col = 1
  locate (decodedOffset: number): void {
    const target = this.#toRaw(decodedOffset)
    if (target < this.#off) {
      // Rare (an error reported behind the cursor): restart from the current line, or from the top.
      if (target >= this.#lineStart) { this.#off = this.#lineStart; this.#col = 1 } else { this.#off = 0; this.#line = 1; this.#col = 1; this.#lineStart = 0 }
    }
    this.#advance(target)
    this.line = this.#line
    this.col = this.#col
  }

  #advance (target: number): void {
    const raw = this.#raw
    let k = this.#off
    let line = this.#line
    let col = this.#col
    let lineStart = this.#lineStart
    const tab = this.#tab
    const end = Math.min(target, raw.length)
    while (k < end) {
      const c = raw.charCodeAt(k)
      if (c === 0x0a || (c === 0x0d && raw.charCodeAt(k + 1) !== 0x0a)) {
        line++; col = 1; lineStart = k + 1
      } else if (c === 0x09 && tab > 1) {
        col += tab - ((col - 1) % tab)
      } else {
        col++
      }
      k++
    }
    this.#off = end
    this.#line = line
    this.#col = col
    this.#lineStart = lineStart
  }

  #toRaw (d: number): number {
    const e = this.#escapes
    if (!e) return d
    // Last escape at or before d.
    let lo = 0
    let hi = e.decoded.length - 1
    let found = -1
    while (lo <= hi) {
      const mid = (lo + hi) >> 1
      if (e.decoded[mid] <= d) { found = mid; lo = mid + 1 } else hi = mid - 1
    }
    if (found < 0) return d
    if (e.decoded[found] === d) return e.rawStart[found]
    return e.rawEnd[found] + (d - e.decoded[found] - 1)
  }
}
