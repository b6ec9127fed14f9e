import { describe, expect, it } from 'vitest'
import type { Attribute, SourcePos, Value } from '../../../node/sf/ast.ts'
import type { PosTable } from '../../../node/sf/syntax/positions.ts'
import { parseReference, parseText, parseValue, SfSyntaxError } from '../../../node/sf/parser.ts'
import { at, FN, strip } from './helpers.ts'

let lastTable: PosTable | undefined
function attrs (text: string): Attribute[] {
  const r = parseText(text, 'g.sf', { ignoreMissingIncludes: true })
  expect(at(r.diagnostics)).toEqual([])
  lastTable = r.positions
  return r.file.attrs
}
/** A node's position in the last text parsed by attrs(). */
const pos = (p: number): SourcePos => lastTable!.decode(p)
const value = (text: string): unknown => strip(attrs(`v ${text}`)[0].value)
const int = (value: number) => ({ type: 'int', value })
const ref = (text: string, parts: unknown[], extra: Record<string, unknown> = {}) =>
  ({ type: 'ref', parts, lazy: false, data: false, text, ...extra })
const word = (name: string) => ({ kind: 'WORD', name })
const fnClass = (name: string) => ({ name: ['sfFunctionClass'], tags: [], value: { type: 'string', value: FN + name } })
const arg = (name: string, v: unknown) => ({ name: [name], tags: [], value: v })
const apply = (fn: string, ...args: unknown[]) => ({ type: 'apply', assert: false, lazy: false, data: false, body: [fnClass(fn), ...args] })

describe('attribute lists', () => {
  it('needs no semicolons, keeps order and positions', () => {
    const a = attrs('a 1 b 2;\n  c "x";;')
    expect(a.map(x => [x.name, pos(x.pos).line, pos(x.pos).col, pos(x.value.pos).col])).toEqual([[['a'], 1, 1, 3], [['b'], 1, 5, 7], [['c'], 2, 3, 5]])
  })

  it('accepts a whole-file extends { } wrapper', () => {
    expect(strip(attrs('extends { a 1; b extends { } }'))).toEqual([
      arg('a', int(1)), arg('b', { type: 'component', prototypes: [{ kind: 'body', attrs: [] }], eager: true })])
  })

  it('reads tags with or without commas', () => {
    expect(attrs('[sfFinal, sfLocal] a 1; [sfTemp "s t" x] b 2').map(x => x.tags)).toEqual([['sfFinal', 'sfLocal'], ['sfTemp', 's t', 'x']])
  })

  it('names "--" attributes unique<N> from one counter per parse', () => {
    expect(attrs('-- 1; -- 2; x extends { -- 3 }').map(a => a.name)).toEqual([['unique0'], ['unique1'], ['x']])
    expect(attrs('-- 1')[0].name).toEqual(['unique0'])
  })

  it('reads string names and placement names', () => {
    expect(attrs('"name with spaces" 3; a:b:c 4; inner:-- 5; p:"q r" 6').map(a => a.name)).toEqual([
      ['name with spaces'], ['a', 'b', 'c'], ['inner', 'unique0'], ['p', 'q r']])
  })

  it('gives NULL to `name ;` and `name NULL`', () => {
    expect(strip(attrs('printer; other NULL;').map(a => a.value))).toEqual([{ type: 'null' }, { type: 'null' }])
  })

  it('reads a value starting with [ after a semicolon-less attribute as a vector, not a tag list', () => {
    expect(strip(attrs('a [x] b 1'))).toEqual([arg('a', apply('Vector', arg('unique0', ref('x', [word('x')])))), arg('b', int(1))])
  })
})

describe('components', () => {
  it('reads extends with several prototypes, bodies and NULL, left to right', () => {
    expect(value('extends P1, { a 1 }, NULL, ROOT:P2')).toEqual({
      type: 'component', eager: true, prototypes: [
        { kind: 'ref', ref: ref('P1', [word('P1')]) }, { kind: 'body', attrs: [arg('a', int(1))] }, { kind: 'null' },
        { kind: 'ref', ref: ref('ROOT:P2', [{ kind: 'ROOT' }, word('P2')]) }]
    })
  })

  it('reads the legacy `extends A { ... }` and `extends NULL { ... }`', () => {
    expect(value('extends Compound { x 1 }')).toEqual({
      type: 'component', eager: true, prototypes: [{ kind: 'ref', ref: ref('Compound', [word('Compound')]) }, { kind: 'body', attrs: [arg('x', int(1))] }]
    })
    expect((value('extends NULL { x 1 }') as { prototypes: unknown[] }).prototypes).toEqual([{ kind: 'null' }, { kind: 'body', attrs: [arg('x', int(1))] }])
  })

  it('marks extends DATA / LAZY as not eager and ignores an extends:factory', () => {
    expect(value('extends DATA { }')).toMatchObject({ eager: false })
    expect(value('extends LAZY Foo')).toMatchObject({ eager: false })
    expect(value('extends:default Foo')).toMatchObject({ eager: true, prototypes: [{ kind: 'ref' }] })
  })

  it('accepts a parenthesised component as a value', () => {
    expect(value('(extends { a 1 })')).toMatchObject({ type: 'component' })
  })
})

describe('references', () => {
  it('reads every part kind', () => {
    expect(value('ROOT:PARENT:THIS:PROCESS:w:ATTRIB a:HERE "b c":PROPERTY p.q:IPROPERTY i:ENVPROPERTY HOME:IENVPROPERTY E:CONSTANT x.Y.Z:HOST "10.0.0.1"')).toEqual(
      ref('ROOT:PARENT:THIS:PROCESS:w:ATTRIB a:HERE "b c":PROPERTY p.q:IPROPERTY i:ENVPROPERTY HOME:IENVPROPERTY E:CONSTANT x.Y.Z:HOST "10.0.0.1"', [
        { kind: 'ROOT' }, { kind: 'PARENT' }, { kind: 'THIS' }, { kind: 'PROCESS' }, word('w'), { kind: 'ATTRIB', name: 'a' },
        { kind: 'HERE', name: 'b c' }, { kind: 'PROPERTY', name: 'p.q' }, { kind: 'IPROPERTY', name: 'i' }, { kind: 'ENVPROPERTY', name: 'HOME' },
        { kind: 'IENVPROPERTY', name: 'E' }, { kind: 'CONSTANT', name: 'x.Y.Z' }, { kind: 'HOST', name: '10.0.0.1' }]))
  })

  it('reads LAZY, DATA and OPTIONAL (with and without a default), in SmartFrog\'s order', () => {
    expect(value('LAZY ATTRIB  myShell')).toEqual(ref('LAZY ATTRIB myShell', [{ kind: 'ATTRIB', name: 'myShell' }], { lazy: true }))
    expect(value('DATA x:y')).toEqual(ref('DATA x:y', [word('x'), word('y')], { data: true }))
    expect(value('OPTIONAL(30000) IPROPERTY t.x')).toEqual(ref('OPTIONAL(30000) IPROPERTY t.x', [{ kind: 'IPROPERTY', name: 't.x' }], { optional: { default: int(30000) } }))
    expect(value('LAZY OPTIONAL a')).toEqual(ref('LAZY OPTIONAL a', [word('a')], { lazy: true, optional: { default: { type: 'null' } } }))
    expect(value('DATA OPTIONAL(5) a:b')).toMatchObject({ data: true, optional: { default: int(5) } })
  })

  it('reads APPLY and ASSERT bodies, with LAZY and DATA', () => {
    expect(value('LAZY APPLY { sfFunctionClass "f"; a 1 }')).toEqual({
      type: 'apply', assert: false, lazy: true, data: false, body: [arg('sfFunctionClass', { type: 'string', value: 'f' }), arg('a', int(1))]
    })
    expect(value('ASSERT { ok true }')).toMatchObject({ type: 'apply', assert: true, lazy: false })
    expect(value('DATA APPLY { }')).toMatchObject({ type: 'apply', data: true })
  })
})

describe('primitives', () => {
  it('reads every primitive kind', () => {
    const vs = attrs('a "s"; b ##m#; c 1; d 2L; e 1.5; f 1.5d; g true; h false; i NULL; j TBD; k #HEX#0aff#; l [| 1, "x", [| 2 |], DATA a:b |]; m [||]').map(a => strip(a.value))
    expect(vs).toEqual([
      { type: 'string', value: 's' }, { type: 'string', value: 'm' }, int(1), { type: 'long', value: 2n }, { type: 'float', value: 1.5 },
      { type: 'double', value: 1.5 }, { type: 'bool', value: true }, { type: 'bool', value: false }, { type: 'null' }, { type: 'tbd' },
      { type: 'bytes', radix: 'HEX', text: '#HEX#0aff#', bytes: [10, 255] },
      { type: 'vector', items: [int(1), { type: 'string', value: 'x' }, { type: 'vector', items: [int(2)] }, ref('DATA a:b', [word('a'), word('b')], { data: true })] },
      { type: 'vector', items: [] }])
  })

  it('refuses references inside a primitive vector', () => {
    const r = parseText('a [| x |]', 'g.sf')
    expect(at(r.diagnostics)).toEqual(['SF2001@1:6'])
  })

  it('parses VAR but says it is unsupported', () => {
    const r = parseText('a VAR; b VAR "x"; c VAR { x, 3 }; d 1', 'g.sf')
    expect(at(r.diagnostics)).toEqual(['SF2007@1:3', 'SF2007@1:10', 'SF2007@1:21'])
    expect(r.file.attrs.map(x => x.name[0])).toEqual(['a', 'b', 'c', 'd'])
  })
})

describe('desugaring (sf-language.md §10)', () => {
  const one = int(1); const two = int(2); const three = int(3)
  it.each([['++', 'Concatenate'], ['<>', 'Append'], ['+', 'Sum'], ['*', 'Product'], ['&&', 'And'], ['||', 'Or'], ['x|', 'Xor'], ['->', 'Implies']])(
    'n-ary %s becomes %s with unique<N> operands', (op, fn) => {
      expect(value(`(1 ${op} 2 ${op} 3)`)).toEqual(apply(fn, arg('unique0', one), arg('unique1', two), arg('unique2', three)))
    })

  it.each([['==', 'EQ'], ['!=', 'NE'], ['>=', 'GE'], ['<=', 'LE'], ['>', 'GT'], ['<', 'LT'], ['-', 'Minus'], ['/', 'Divide'], ['%', 'Mod']])(
    'binary %s becomes %s with left/right', (op, fn) => {
      expect(value(`(1 ${op} 2)`)).toEqual(apply(fn, arg('left', one), arg('right', two)))
    })

  it('desugars !, IF and nested operators', () => {
    expect(value('(! true)')).toEqual(apply('Not', arg('data', { type: 'bool', value: true })))
    expect(value('IF (a > 1) THEN "x" ELSE "" FI')).toEqual(apply('IfThenElse',
      arg('if', apply('GT', arg('left', ref('a', [word('a')])), arg('right', one))), arg('then', { type: 'string', value: 'x' }), arg('else', { type: 'string', value: '' })))
    expect(value('((1 + 2) * 3)')).toEqual(apply('Product', arg('unique2', apply('Sum', arg('unique0', one), arg('unique1', two))), arg('unique3', three)))
  })

  it('desugars SWITCH with its bindings then IF<n>/THEN<n> pairs', () => {
    expect(value('SWITCH { x 1 } IF (x == 1) THEN "one" IF true THEN "other" ENDSWITCH')).toEqual(apply('Switch',
      arg('x', one), arg('IF0', apply('EQ', arg('left', ref('x', [word('x')])), arg('right', one))), arg('THEN0', { type: 'string', value: 'one' }),
      arg('IF1', { type: 'bool', value: true }), arg('THEN1', { type: 'string', value: 'other' })))
  })

  it('desugars [a, b] into a Vector function and () into its content', () => {
    expect(value('[ 1, [ 2 ], "x" ]')).toEqual(apply('Vector', arg('unique1', one), arg('unique2', apply('Vector', arg('unique0', two))), arg('unique3', { type: 'string', value: 'x' })))
    expect(value('[]')).toEqual(apply('Vector'))
    expect(value('((7))')).toEqual(int(7))
  })

  it('puts the operator position on the APPLY', () => {
    const v = attrs('a (1 +\n  2)')[0].value as Extract<Value, { type: 'apply' }>
    expect([pos(v.pos).line, pos(v.pos).col, pos(v.body[1].pos).col, pos(v.body[2].pos).line]).toEqual([1, 6, 4, 2])
  })
})

describe('includes in the grammar', () => {
  it('parses #codebase and an optional include that is missing, keeping the rest', () => {
    expect(attrs('#codebase "http://x/y.jar" #include? "nope.sf"; a 1').map(a => a.name)).toEqual([['a']])
  })
})

describe('parseReference / parseValue', () => {
  it('parses lone references', () => {
    expect(strip(parseReference('LAZY ATTRIB myShell'))).toEqual(ref('LAZY ATTRIB myShell', [{ kind: 'ATTRIB', name: 'myShell' }], { lazy: true }))
    expect(strip(parseReference('PARENT:a:b'))).toEqual(ref('PARENT:a:b', [{ kind: 'PARENT' }, word('a'), word('b')]))
    expect(strip(parseReference('DATA x'))).toMatchObject({ data: true })
  })

  it('throws a typed SfSyntaxError with a position on bad references', () => {
    for (const bad of ['', 'a:', '1', 'a b', 'APPLY { }', 'ATTRIB HOST x']) {
      let err: unknown
      try { parseReference(bad) } catch (e) { err = e }
      expect(err, bad).toBeInstanceOf(SfSyntaxError)
      expect((err as SfSyntaxError).name).toBe('SfSyntaxError')
      expect((err as SfSyntaxError).pos.line).toBe(1)
    }
  })

  it('parses lone values', () => {
    expect(strip(parseValue('true'))).toEqual({ type: 'bool', value: true })
    expect(strip(parseValue('"x"'))).toEqual({ type: 'string', value: 'x' })
    expect(strip(parseValue('[|1,2|]'))).toEqual({ type: 'vector', items: [int(1), int(2)] })
    expect(strip(parseValue('512'))).toEqual(int(512))
    expect(strip(parseValue('240L'))).toEqual({ type: 'long', value: 240n })
    expect(parseValue('extends { a 1 }')).toMatchObject({ type: 'component' })
    expect(parseValue('(1 + 2)')).toMatchObject({ type: 'apply' })
    expect(() => parseValue('1 2')).toThrow(SfSyntaxError)
    expect(() => parseValue('"abc')).toThrow(/SF1005/)
    expect(() => parseValue('')).toThrow(SfSyntaxError)
  })
})

describe('SmartFrog\'s order of reference modifiers', () => {
  it('refuses OPTIONAL before LAZY and LAZY before DATA in a value', () => {
    expect(at(parseText('a OPTIONAL LAZY x', 'g.sf').diagnostics)).toEqual(['SF2001@1:12'])
    expect(at(parseText('a LAZY DATA x', 'g.sf').diagnostics)).toEqual(['SF2001@1:8'])
  })

  it('parses back the text of every reference it produced', () => {
    const file = parseText('a LAZY ATTRIB x; b DATA p:q; c LAZY OPTIONAL(3) HERE "s t":u; d OPTIONAL PARENT:w; e ROOT:sfConfig:x', 'g.sf').file
    for (const a of file.attrs) {
      const v = a.value
      if (v.type !== 'ref') throw new Error('not a ref')
      expect(strip(parseReference(v.text))).toEqual(strip(v))
    }
  })
})
