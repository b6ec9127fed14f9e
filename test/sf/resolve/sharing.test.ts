import { describe, expect, it } from 'vitest'
import { checkText } from '../../../node/sf/index.ts'
import { parseText } from '../../../node/sf/parser.ts'
import { buildRoot } from '../../../node/sf/resolve/build.ts'
import { DiagnosticBag } from '../../../node/sf/diagnostics.ts'
import { CD } from '../../../node/sf/resolve/model.ts'

// What the memory work on big pools shares or builds early (BENCHMARKS.md, `.sf` resolution) must not show:
// components sharing one attribute-name array, bodies built while parsing, schema verdicts reused along a pool.

const check = (text: string) => checkText(text, '/virtual/t.sf', { cwd: '/virtual', env: {} })

describe('attribute-name arrays shared between components', () => {
  it('are shared by components made from the same prototype and body names', () => {
    const r = check('P extends { a 1; b 2; } sfConfig extends { x extends P { c 3; } y extends P { c 4; } }')
    const x = r.resolved!.config!.get('x') as CD
    const y = r.resolved!.config!.get('y') as CD
    expect(x.names).toEqual(['a', 'b', 'c'])
    expect(x.names).toBe(y.names)
  })

  it('are copied before one component changes them: a placement into one leaves the other as it was', () => {
    const r = check('P extends { a 1; } sfConfig extends { x extends P { b 2; } y extends P { b 3; } x:c 5; }')
    expect(r.diagnostics).toEqual([])
    expect(r.config).toEqual({ x: { a: 1, b: 2, c: 5 }, y: { a: 1, b: 3 } })
  })

  it('are copied before an override adds to a copy of a shared prototype', () => {
    // Both copies of Inner start from one names array; each then gets its own extra attribute.
    const r = check('Inner extends { a 1; } Outer extends { i extends Inner; } sfConfig extends { o1 extends Outer { i:b 1; } o2 extends Outer { i:c 2; } }')
    expect(r.diagnostics).toEqual([])
    expect(r.config).toEqual({ o1: { i: { a: 1, b: 1 } }, o2: { i: { a: 1, c: 2 } } })
  })

  it('stay shared when a body only overrides (no new names)', () => {
    const r = check('P extends { a 1; b 2; } sfConfig extends { x extends P { b 3; } }')
    const p = r.resolved!.root.get('P') as CD
    const x = r.resolved!.config!.get('x') as CD
    expect(x.names).toBe(p.names)
    expect(r.config).toEqual({ x: { a: 1, b: 3 } })
  })
})

describe('bodies built while parsing', () => {
  it('give the diagnostics of parse-then-build when a name needs one ($ names are checked outermost first)', () => {
    const r = check('sfConfig extends { $a extends { $b 1; } ok 1; }')
    expect(r.diagnostics.map(d => `${d.code}@${d.pos.line}:${d.pos.col}`)).toEqual(['SF4010@1:20'])
    const nested = check('sfConfig extends { a extends { $b 1; "7" 2; } }')
    expect(nested.diagnostics.map(d => d.code)).toEqual(['SF4010', 'SF4011'])
  })

  it('resolve to what the plain syntax tree resolves to', () => {
    const text = 'P extends { a 1; s LAZY ATTRIB a; } sfConfig extends { x extends P { b 2; } y extends P, { c 3; } z extends { d 4; } }'
    const direct = check(text)
    // The plain path: parse to a syntax tree, then build.
    const parsed = parseText(text, '/virtual/t.sf', { cwd: '/virtual' })
    const root = buildRoot(parsed.file, new DiagnosticBag(parsed.positions))
    expect(root.names).toEqual(['P', 'sfConfig'])
    expect(direct.config).toEqual({ x: { a: 1, s: { $ref: 'LAZY ATTRIB a' }, b: 2 }, y: { a: 1, s: { $ref: 'LAZY ATTRIB a' }, c: 3 }, z: { d: 4 } })
  })
})

describe('schema checks along a pool', () => {
  it('judge each value: a verdict reused along the pool never hides another component\'s own bad value', () => {
    const r = check(`#include "org/smartfrog/components.sf"
#include "ch/cern/openlab/smartdomains/components.sf"
#include "org/smartfrog/services/shellscript/components.sf"
D extends XenDomain { shell LAZY ATTRIB myShell; kernel "boot/relative"; ip "10.0.0.1"; }
sfConfig extends Compound {
  myShell extends BashShell;
  d extends LVMStorageBackend { shell LAZY ATTRIB myShell; domainName "v1"; baseImage "/i.img"; }
  v1 extends D { storageBackend LAZY ATTRIB d; ip "999.999.999.999"; }
  v2 extends D { storageBackend LAZY ATTRIB d; }
  v3 extends D { storageBackend LAZY ATTRIB d; ip "999.999.999.998"; }
}`)
    const ips = r.diagnostics.filter(d => d.code === 'SF9002' && d.message.includes(':ip:'))
    expect(ips.map(d => d.message.split(':').slice(0, 3).join(':'))).toEqual(['sfConfig:v1:ip', 'sfConfig:v3:ip'])
    // The inherited kernel is one value at one position: one warning (the bag keeps one per position).
    expect(r.diagnostics.filter(d => d.code === 'SF9002' && d.message.includes(':kernel:'))).toHaveLength(1)
  })
})
