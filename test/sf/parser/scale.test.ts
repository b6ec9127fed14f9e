import { describe, expect, it } from 'vitest'
import { MAX_DEPTH } from '../../../node/sf/syntax/grammar.ts'
import { parseText } from '../../../node/sf/parser.ts'
import { at } from './helpers.ts'
import { nested, poolText } from './generate.ts'

/** CPU milliseconds (all threads of this process, GC included): the machine is shared, wall time is noise. */
function timed<T> (f: () => T): [T, number] {
  const c0 = process.cpuUsage()
  const r = f()
  const c = process.cpuUsage(c0)
  return [r, (c.user + c.system) / 1000]
}

describe('large files', () => {
  it('parses a 3 MB and a 50 MB pool in linear time', () => {
    const small = poolText(3 * 2 ** 20)
    const [rs, ms3] = timed(() => parseText(small.text, 'pool3.sf', { ignoreMissingIncludes: true }))
    expect(rs.diagnostics).toEqual([])
    const big = poolText(50 * 2 ** 20)
    const [rb, ms50] = timed(() => parseText(big.text, 'pool50.sf', { ignoreMissingIncludes: true }))
    expect(rb.diagnostics).toEqual([])
    const cfg = rb.file.attrs[1].value
    expect(cfg.type === 'component' && cfg.prototypes[1].kind === 'body' ? cfg.prototypes[1].attrs.length : 0).toBe(2 + 2 * big.members)
    console.log(`sf parse CPU time: 3 MB (${small.members} domains) ${ms3.toFixed(0)} ms; 50 MB (${big.members} domains) ${ms50.toFixed(0)} ms`)
    expect(ms50).toBeLessThan(12_000)
    // Quadratic behaviour would make the 16x larger file ~256x slower.
    expect(ms50 / Math.max(ms3, 1)).toBeLessThan(40)
  }, 60_000)

  it('reports positions far into a big file exactly', () => {
    const { text } = poolText(2 ** 20)
    const lines = text.split('\n').length
    const r = parseText(text + 'oops @1\n', 'p.sf')
    expect(at(r.diagnostics)).toEqual([`SF1001@${lines}:6`])
  })
})

describe('wide constructs', () => {
  it('takes 200,000 attributes in a whole-file extends, operands, vector items and reference parts', () => {
    const n = 200_000
    const wrapped = 'extends {\n' + Array.from({ length: n }, (_, i) => `a${i} ${i};`).join('\n') + '\n}\n'
    expect(parseText(wrapped, 'w.sf').file.attrs).toHaveLength(n)
    const sum = parseText('s (' + Array(n).fill('1').join(' + ') + ')', 's.sf').file.attrs[0].value
    expect(sum.type === 'apply' ? sum.body.length : 0).toBe(n + 1)
    const vec = parseText('v [| ' + Array(n).fill('1').join(', ') + ' |]', 'v.sf').file.attrs[0].value
    expect(vec.type === 'vector' ? vec.items.length : 0).toBe(n)
    const ref = parseText('r ' + Array(n).fill('p').join(':'), 'r.sf').file.attrs[0].value
    expect(ref.type === 'ref' ? ref.parts.length : 0).toBe(n)
  })
})

describe('deep nesting', () => {
  for (const kind of ['braces', 'parens', 'vectors', 'primvectors', 'ifs', 'unclosed'] as const) {
    it(`10,000 levels of ${kind}: one diagnostic, no stack overflow`, () => {
      const [r, ms] = timed(() => parseText(nested(kind, 10_000), `${kind}.sf`))
      const deep = r.diagnostics.filter(d => d.code === 'SF2004')
      expect(deep).toHaveLength(1)
      expect(deep[0].message).toBe(`nesting deeper than ${MAX_DEPTH} levels`)
      const others = r.diagnostics.filter(d => d.code !== 'SF2004').map(d => d.code)
      expect(others).toEqual(kind === 'unclosed' ? ['SF2002'] : [])
      expect(ms).toBeLessThan(3000)
    })
  }

  it('turns a stack overflow into a diagnostic when the caller has used up most of the stack', () => {
    const text = nested('braces', MAX_DEPTH - 1)
    // Find how many frames of this recursion the stack holds, then parse from 80% that deep.
    let result: ReturnType<typeof parseText> | undefined
    let thrown: unknown
    let deepest = 0
    const burn = (k: number, atBottom: () => void): void => {
      deepest = Math.max(deepest, k)
      if (k > 0) { burn(k - 1, atBottom); return }
      atBottom()
    }
    const probe = (k: number): void => { deepest = k; probe(k + 1) }
    try { probe(0) } catch {}
    const limit = deepest
    let ran = false
    try {
      burn(Math.floor(limit * 0.6), () => {
        ran = true
        try { result = parseText(text, 'deep.sf') } catch (e) { thrown = e }
      })
    } catch (e) {
      throw new Error(`the test's own recursion overflowed (limit ${limit}): ${String(e)}`)
    }
    expect(ran).toBe(true)
    expect(thrown).toBeUndefined()
    expect(result?.diagnostics.map(d => d.code)).toContain('SF2004')
  })

  it(`parses ${MAX_DEPTH - 1} levels without a diagnostic`, () => {
    for (const kind of ['braces', 'parens', 'vectors', 'primvectors', 'ifs'] as const) {
      const r = parseText(nested(kind, MAX_DEPTH - 1), 'ok.sf')
      expect(r.diagnostics, kind).toEqual([])
    }
    let v = parseText(nested('braces', MAX_DEPTH - 1), 'ok.sf').file.attrs[0].value
    let depth = 0
    while (v.type === 'component' && v.prototypes[0]?.kind === 'body' && v.prototypes[0].attrs.length > 0) {
      v = v.prototypes[0].attrs[0].value
      depth++
    }
    expect(depth).toBe(MAX_DEPTH - 2)
  })
})
