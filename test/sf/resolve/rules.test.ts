import { describe, expect, it } from 'vitest'
import { checkText } from '../../../node/sf/index.ts'
import { parseText } from '../../../node/sf/parser.ts'
import { printConfig } from '../../../node/sf/print.ts'

// Rules that are easier to state inline than as fixture files.

const check = (text: string, options = {}) => checkText(text, '/virtual/t.sf', { cwd: '/virtual', env: {}, ...options })
const codes = (text: string) => check(text).diagnostics.map(d => d.code)

describe('resolver rules', () => {
  it('survives a 2,000-deep extends chain and a 5,000-long link chain without overflowing the stack', () => {
    let chain = 'P0 extends { v 0; }\n'
    for (let i = 1; i < 2000; i++) chain += `P${i} extends P${i - 1} { v${i} ${i}; }\n`
    let links = 'sfConfig extends { l0 1;\n'
    for (let i = 1; i < 5000; i++) links += `l${i} l${i - 1};\n`
    const r = check(chain + links + 'x extends P1999; }')
    const errors = r.diagnostics.filter(d => d.severity === 'error')
    // A very deep chain may be refused, but with a diagnostic, never a RangeError.
    if (errors.length === 0) {
      expect(r.config!.l4999).toBe(1)
      expect(Object.keys(r.config!.x as object).length).toBe(2000)
    } else {
      expect(errors[0]!.code).toMatch(/^SF[46]/)
    }
  })

  it('keeps going after an error so that several are reported', () => {
    expect(codes('sfConfig extends { a nowhere; b TBD; c extends Nothing; d 1; }')).toEqual(['SF4001', 'SF6001', 'SF6003'])
  })

  it('reads PROPERTY from -D first, then the environment; ENVPROPERTY from the environment', () => {
    const r = check('sfConfig extends { p PROPERTY who; e ENVPROPERTY HOME_X; i IPROPERTY n; }', { defines: { who: 'me', n: '42' }, env: { who: 'env', HOME_X: '/h' } })
    expect(r.config).toEqual({ p: 'me', e: '/h', i: 42 })
    expect(codes('sfConfig extends { p PROPERTY unset.prop; }')).toEqual(['SF6001'])
  })

  it('reads CONSTANT from its table', () => {
    expect(check('sfConfig extends { m CONSTANT "java.lang.Integer.MAX_VALUE"; }').config).toEqual({ m: 2147483647 })
    expect(codes('sfConfig extends { m CONSTANT "no.such.FIELD"; }')).toEqual(['SF6001'])
  })

  it('keeps the first position of a redefined attribute with the last value', () => {
    expect(JSON.stringify(check('sfConfig extends { a 1; b 2; a 3; }').config)).toBe('{"a":3,"b":2}')
  })

  it('refuses a sfConfig that is not a component, and a file without one', () => {
    expect(codes('sfConfig 3;')).toEqual(['SF6011'])
    expect(codes('x 3;')).toEqual(['SF6010'])
  })

  it('does not resolve links outside sfConfig (a dangling template link is harmless)', () => {
    expect(check('T extends { a nowhere; b TBD; } sfConfig extends { c 1; }').config).toEqual({ c: 1 })
  })

  it('makes extends DATA components non-eager, and the flag is not inherited', () => {
    const r = check('D extends DATA { a 1; } sfConfig extends { d D; e extends D; f extends DATA { } }')
    expect(r.config).toEqual({ d: { $data: true, a: 1 }, e: { a: 1 }, f: { $data: true } })
  })

  it('prints a tree that parses and resolves back to the same values', () => {
    const src = `#include "org/smartfrog/functions.sf"
      sfConfig extends { i 1; l 2L; f 1.5f; d 2.25d; s "q\\"uote\\n"; b true; n NULL; v [|1, "a", [|2|]|];
        c extends { x LAZY ATTRIB y; } dd extends DATA { k 1; } bytes #HEX#0a0b#; big (1 + 2);
        "odd name" 3; t "tab\\there"; neg -5; e 1.0e10d; }`
    const r = check(src)
    expect(r.diagnostics).toEqual([])
    const text = printConfig(r.resolved!.config!)
    const back = check(text)
    expect(back.diagnostics).toEqual([])
    expect(back.config).toEqual(r.config)
    expect(parseText(text, 'p.sf').diagnostics).toEqual([])
  })
})
