import { describe, expect, it } from 'vitest'
import { DiagnosticBag } from '../../../node/sf/diagnostics.ts'
import { parseReference, parseValue, SfSyntaxError } from '../../../node/sf/parser.ts'
import { decodeUnicodeEscapes, PosTable } from '../../../node/sf/syntax/positions.ts'

// Positions are numbers (ast.ts Pos) decoded by the parse session's table, or self-contained for lone parses.

describe('PosTable', () => {
  it('gives each source its range, its end-of-file offset included, and decodes lines and columns', () => {
    const t = new PosTable()
    const texts = ['a\nbc', 'x\r\ny\rz', 'only']
    const bases = texts.map((text, k) => t.add(text, text.length, `f${k}.sf`, null, 1))
    expect(t.decode(bases[0]! + 3)).toEqual({ file: 'f0.sf', line: 2, col: 2 })
    expect(t.decode(bases[0]! + 4)).toEqual({ file: 'f0.sf', line: 2, col: 3 }) // end of file
    expect(t.decode(bases[1]!)).toEqual({ file: 'f1.sf', line: 1, col: 1 })
    expect(t.decode(bases[1]! + 3)).toEqual({ file: 'f1.sf', line: 2, col: 1 }) // after \r\n
    expect(t.decode(bases[1]! + 5)).toEqual({ file: 'f1.sf', line: 3, col: 1 }) // after a lone \r
    expect(t.decode(bases[2]! + 2)).toEqual({ file: 'f2.sf', line: 1, col: 3 })
  })

  it('maps offsets of the unicode-decoded text back to the raw text, and counts tabs when asked', () => {
    const raw = 'a\\u0042c\n\tx'
    const d = decodeUnicodeEscapes(raw)
    const t = new PosTable()
    const base = t.add(raw, d.text.length, 'u.sf', d.escapes, 8)
    expect(d.text).toBe('aBc\n\tx')
    expect(t.decode(base + 2)).toEqual({ file: 'u.sf', line: 1, col: 8 }) // `c`, after the 6-character escape
    expect(t.decode(base + 5)).toEqual({ file: 'u.sf', line: 2, col: 9 }) // `x`, after a tab of 8
  })

  it('keeps session positions below 2^31, so that V8 stores them without an object', () => {
    const t = new PosTable()
    const base = t.add('x', 1, 'a.sf', null, 1)
    expect(Number.isInteger(base) && base >= 0 && base < 2 ** 31).toBe(true)
  })
})

describe('lone parses', () => {
  it('carry self-contained positions that any table decodes', () => {
    const v = parseValue('\n  "s"')
    expect(new PosTable().decode(v.pos)).toEqual({ file: '<value>', line: 2, col: 3 })
    expect(new DiagnosticBag().positions.decode(parseReference('PARENT:a').pos)).toEqual({ file: '<reference>', line: 1, col: 1 })
  })

  it('report syntax errors with their line and column', () => {
    try {
      parseValue('[| 1,\n  x |]')
      expect.unreachable()
    } catch (e) {
      expect(e).toBeInstanceOf(SfSyntaxError)
      expect((e as SfSyntaxError).pos).toMatchObject({ file: '<value>', line: 2 })
    }
  })
})
