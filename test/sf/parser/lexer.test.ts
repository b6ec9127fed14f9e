import { describe, expect, it } from 'vitest'
import { DiagnosticBag } from '../../../node/sf/diagnostics.ts'
import { Lexer, type Token } from '../../../node/sf/lexer.ts'

/** Tokens with their positions decoded (`line`, `col`), as the session's table gives them. */
type LexedToken = Token & { line: number, col: number }
function lex (text: string, tabWidth = 1): { tokens: LexedToken[], diag: DiagnosticBag } {
  const diag = new DiagnosticBag()
  const lx = new Lexer(text, 't.sf', diag, { tabWidth })
  const tokens: LexedToken[] = []
  for (let t = lx.next(); t.kind !== 'EOF'; t = lx.next()) {
    const p = diag.positions.decode(t.pos)
    tokens.push(Object.assign(t, { line: p.line, col: p.col }))
  }
  return { tokens, diag }
}
const kinds = (text: string): string[] => lex(text).tokens.map(t => t.kind)
const values = (text: string): unknown[] => lex(text).tokens.map(t => t.value)
const codes = (text: string): string[] => lex(text).diag.items.map(d => `${d.code}@${d.pos.line}:${d.pos.col}`)

describe('lexer: trivia', () => {
  it('skips whitespace and all three comment forms, keeping positions', () => {
    const { tokens, diag } = lex('// line\n/* block\n */ a /** doc */ b\r\n\f\tc // eof')
    expect(tokens.map(t => [t.image, t.line, t.col])).toEqual([['a', 3, 5], ['b', 3, 18], ['c', 4, 3]])
    expect(diag.items).toEqual([])
  })

  it('skips a byte-order mark at the start, and handles CRLF line ends', () => {
    const r = lex('\ufeffa\r\n"b"\r\n// c\r\nd')
    expect(r.tokens.map(t => [t.image, t.line, t.col])).toEqual([['a', 1, 2], ['"b"', 2, 1], ['d', 4, 1]])
    expect(r.diag.items).toEqual([])
  })

  it('reports an unterminated block comment where it starts', () => {
    expect(codes('a\n  /* never closed')).toEqual(['SF1006@2:3'])
  })

  it('counts a tab as 8 columns when asked to (JavaCC, hence HP messages)', () => {
    expect(lex('\t\tx', 8).tokens[0].col).toBe(17)
    expect(lex('ab\tx', 8).tokens[0].col).toBe(1)
    expect(lex('ab\tx', 8).tokens[1].col).toBe(9)
    expect(lex('\tx', 1).tokens[0].col).toBe(2)
  })
})

describe('lexer: words and reserved tokens', () => {
  it('reads every reserved word as its own kind, case-sensitively and whole-token', () => {
    const words = 'APPLY ASSERT ATTRIB DATA extends false HERE HOST PROPERTY IPROPERTY ENVPROPERTY IENVPROPERTY CONSTANT LAZY NULL OPTIONAL PARENT PROCESS ROOT TBD THIS true IF THEN ELSE FI SWITCH ENDSWITCH VAR'
    expect(kinds(words)).toEqual(words.split(' '))
    expect(kinds('True extendsX Lazy null')).toEqual(['WORD', 'WORD', 'WORD', 'WORD'])
  })

  it('reads the directive tokens', () => {
    expect(kinds('#include "a" #include? "b" #codebase "c"')).toEqual(['#include', 'STRING', '#include?', 'STRING', '#codebase', 'STRING'])
  })

  it('reads every punctuation and operator token by longest match', () => {
    const ops = '{ } [ ] [| |] ( ) , : ; -- ++ <> + - * / % == != >= <= > < && || x| ! ->'
    expect(kinds(ops)).toEqual(ops.split(' '))
    expect(kinds('[||]')).toEqual(['[|', '|]'])
    expect(kinds('x|y')).toEqual(['x|', 'WORD'])
    expect(kinds('xx|')).toEqual(['WORD'])
    expect(codes('xx|')).toEqual(['SF1001@1:3']) // a lone `|` is no token
  })

  it('takes the SPECIAL characters inside words, so operators need spaces', () => {
    expect(values('a.b-c+d@e~f$g%h^i&j low-priority-updates io.sort.record.percent x-1 $v _u')).toEqual(
      ['a.b-c+d@e~f$g%h^i&j', 'low-priority-updates', 'io.sort.record.percent', 'x-1', '$v', '_u'])
    expect(values('café ÀÖ')).toEqual(['café', 'ÀÖ'])
  })

  it('reports a character that cannot start a token at its exact position and goes on', () => {
    const { tokens, diag } = lex('a 1;\n  @b c\n#nope d | e')
    expect(tokens.map(t => t.image)).toEqual(['a', '1', ';', 'b', 'c', 'nope', 'd', 'e'])
    expect(diag.items.map(d => `${d.code}@${d.pos.line}:${d.pos.col}`)).toEqual(['SF1001@2:3', 'SF1001@3:1', 'SF1001@3:9'])
  })
})

describe('lexer: strings', () => {
  it('decodes the escapes of "..." strings, octal included', () => {
    expect(values(String.raw`"a\nb\tc\bd\re\ff\\g\'h\"i" "\101\060\377"`)).toEqual(['a\nb\tc\bd\re\ff\\g\'h"i', 'A0\u00ff'])
  })

  it('refuses other escapes and a newline inside a string, at the exact column', () => {
    expect(codes(String.raw`a "x\qy" b "\4"`)).toEqual(['SF1003@1:5', 'SF1003@1:13'])
    const r = lex('a "1234 \nb 2')
    expect(r.diag.items.map(d => `${d.code}@${d.pos.line}:${d.pos.col}`)).toEqual(['SF1002@1:9'])
    expect(r.tokens.map(t => t.image)).toEqual(['a', '"1234 ', 'b', '2'])
  })

  it('reads ##...# multi-line strings with raw quotes and newlines', () => {
    const r = lex('s ##line "one"\nline two \\# end\\n# t')
    expect(r.tokens[1]).toMatchObject({ kind: 'STRING', multiline: true, value: 'line "one"\nline two # end\n' })
    expect(r.diag.positions.decode(r.tokens[2].pos)).toEqual({ file: 't.sf', line: 2, col: 20 })
    expect(codes('s ##never closed')).toEqual(['SF1005@1:3'])
  })

  it('reports an unterminated string at EOF', () => {
    expect(codes('a "abc')).toEqual(['SF1005@1:3'])
  })
})

describe('lexer: numbers', () => {
  it('reads integers (leading zeros, negative) as INT', () => {
    expect(lex('0 007 -5 2147483647 -2147483648').tokens.map(t => [t.kind, t.value])).toEqual(
      [['INT', 0], ['INT', 7], ['INT', -5], ['INT', 2147483647], ['INT', -2147483648]])
  })

  it('refuses an integer out of the 32-bit range, but not as a long', () => {
    expect(codes('a 2147483648 b -2147483649')).toEqual(['SF1004@1:3', 'SF1004@1:16'])
    expect(lex('2147483648L -5l').tokens.map(t => [t.kind, t.value])).toEqual([['LONG', 2147483648n], ['LONG', -5n]])
    expect(codes('99999999999999999999L')).toEqual(['SF1008@1:1'])
  })

  it('reads unsuffixed decimals at their full value (not SmartFrog\'s 1.5 -> 1.0 bug)', () => {
    expect(lex('1.5 0.95 2.25 100.0 1e3 1.5e3 .5 -.5 5. 3E-2').tokens.map(t => [t.kind, t.value])).toEqual([
      ['FLOAT', 1.5], ['FLOAT', 0.95], ['FLOAT', 2.25], ['FLOAT', 100], ['FLOAT', 1000], ['FLOAT', 1500],
      ['FLOAT', 0.5], ['FLOAT', -0.5], ['FLOAT', 5], ['FLOAT', 0.03]])
  })

  it('reads f/F floats and d/D doubles', () => {
    expect(lex('1.5f 2F 1.5d -.5d 1534.45E-10D 7d').tokens.map(t => [t.kind, t.value])).toEqual([
      ['FLOAT', 1.5], ['FLOAT', 2], ['DOUBLE', 1.5], ['DOUBLE', -0.5], ['DOUBLE', 1534.45e-10], ['DOUBLE', 7]])
  })

  it('splits a number from a following word, and a lone minus from a word', () => {
    expect(kinds('5abc - x -- y -> z')).toEqual(['INT', 'WORD', '-', 'WORD', '--', 'WORD', '->', 'WORD'])
  })
})

describe('lexer: byte arrays', () => {
  it('decodes #HEX#, #DEC#, #OCT#, #BIN#, #B64# ignoring whitespace', () => {
    const r = lex('#HEX#0a FF\n 10# #DEC#255 001# #OCT#377# #BIN#00000011# #B64#AQID#')
    expect(r.tokens.map(t => [t.radix, t.image, [...(t.value as Uint8Array)]])).toEqual([
      ['HEX', '#HEX#0aFF10#', [10, 255, 16]], ['DEC', '#DEC#255001#', [255, 1]], ['OCT', '#OCT#377#', [255]],
      ['BIN', '#BIN#00000011#', [3]], ['B64', '#B64#AQID#', [1, 2, 3]]])
    expect(r.diag.items).toEqual([])
  })

  it('refuses a digit outside the radix', () => {
    expect(codes('a #BIN#102#')).toEqual(['SF1007@1:3'])
  })
})

describe('lexer: unicode escapes', () => {
  it('decodes \\uXXXX everywhere before tokenising, positions staying on the raw text', () => {
    const r = lex('a\\u0042c \\u0022str\\u0022 x\ny\\u003b z')
    expect(r.tokens.map(t => [t.kind, t.value ?? t.image, t.line, t.col])).toEqual([
      ['WORD', 'aBc', 1, 1], ['STRING', 'str', 1, 10], ['WORD', 'x', 1, 26], ['WORD', 'y', 2, 1], [';', ';', 2, 2], ['WORD', 'z', 2, 9]])
  })

  it('leaves an escaped backslash alone', () => {
    const r = lex('"a\\\\u0041"')
    expect(r.tokens[0].value).toBe('a\\u0041')
  })
})
