import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { basename, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import fc from 'fast-check'
import { describe, expect, it } from 'vitest'
import { parseText } from '../../../node/sf/parser.ts'
import { at, fmt } from './helpers.ts'

// Golden diagnostics: test/fixtures/sf/parse/X.sf beside X.diagnostics.txt (UPDATE_GOLDEN=1 rewrites them).
const FIXTURES = fileURLToPath(new URL('../../fixtures/sf/parse/', import.meta.url))

describe('golden diagnostics', () => {
  const files = readdirSync(FIXTURES).filter(f => f.endsWith('.sf')).sort()
  it('has fixtures', () => { expect(files.length).toBeGreaterThanOrEqual(6) })
  for (const f of files) {
    it(f, () => {
      const r = parseText(readFileSync(join(FIXTURES, f), 'utf8'), f, { cwd: FIXTURES })
      // Paths of included files are absolute: make them relative to the fixtures so the golden is portable.
      const got = fmt(r.diagnostics).map(l => l.split(FIXTURES).join('')).join('\n') + '\n'
      const goldenPath = join(FIXTURES, basename(f, '.sf') + '.diagnostics.txt')
      if (process.env.UPDATE_GOLDEN === '1') writeFileSync(goldenPath, got)
      expect(got).toBe(readFileSync(goldenPath, 'utf8'))
    })
  }
})

describe('recovery', () => {
  it('keeps the good attributes around lexical errors', () => {
    const r = parseText(readFileSync(join(FIXTURES, 'lexical.sf'), 'utf8'), 'lexical.sf')
    const cfg = r.file.attrs[0].value
    expect(cfg.type).toBe('component')
    const names = cfg.type === 'component' && cfg.prototypes[0].kind === 'body' ? cfg.prototypes[0].attrs.map(a => a.name[0]) : []
    expect(names).toEqual(expect.arrayContaining(['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']))
  })

  it('reports each of several syntax errors once, and parses what follows each', () => {
    const r = parseText(readFileSync(join(FIXTURES, 'syntax.sf'), 'utf8'), 'syntax.sf')
    expect(at(r.diagnostics)).toEqual(['SF2006@3:19', 'SF2003@4:18', 'SF2001@5:16', 'SF2003@6:19', 'SF2001@7:17', 'SF2001@9:5', 'SF2001@11:15', 'SF2001@12:24', 'SF2005@15:1'])
    const cfg = r.file.attrs[0].value
    const names = cfg.type === 'component' && cfg.prototypes[0].kind === 'body' ? cfg.prototypes[0].attrs.map(a => a.name[0]) : []
    expect(names).toEqual(['empty', 'mixed', 'minus5', 'binary', 'host', 'ok1', 'ok2', 'vec', 'ok3', 'ok4'])
    expect(r.file.attrs.map(a => a.name[0])).toEqual(['sfConfig', 'last'])
  })

  it('names where an unclosed brace was opened, at the end of the file (HP\'s EOF position)', () => {
    const r = parseText('sfConfig extends {\n\ta extends {\n}\n', 'x.sf')
    expect(fmt(r.diagnostics)).toEqual(['x.sf:3:2: error SF2002: "{" opened at 1:18 is never closed (found end of file)'])
  })

  it('reports a stray closing brace at top level and goes on', () => {
    const r = parseText('a 1 } b 2\n )\nc 3', 'x.sf')
    expect(at(r.diagnostics)).toEqual(['SF2005@1:5', 'SF2001@2:2'])
    expect(r.file.attrs.map(a => a.name[0])).toEqual(['a', 'b', 'c'])
  })

  it('never throws on garbage', () => {
    const junk = ['extends', '{', '}}}}', '(((', 'a (', 'a [', 'a [|', 'a IF', 'a SWITCH', 'a extends {', 'a:', 'a:b:', '[', '[x', '#include',
      'a OPTIONAL(', 'a LAZY', 'a DATA', 'a APPLY', 'a (1 +', 'a (!', '"', '##', '#HEX#', 'a -', 'x| x|', '-- --', 'a VAR {', 'a extends:']
    for (const j of junk) {
      const r = parseText(j, 'junk.sf')
      expect(r.diagnostics.length, j).toBeGreaterThan(0)
      for (const d of r.diagnostics) expect(d.code, j).toMatch(/^SF[123]\d{3}$/)
    }
  })
})

describe('fuzzing (fast-check)', () => {
  const tokens = ['a', 'b:c', '--', '"s"', '##m#', '1', '-5', '1.5', '2L', 'true', 'NULL', 'TBD', 'extends', 'DATA', 'LAZY',
    'OPTIONAL', 'APPLY', 'ASSERT', 'ATTRIB', 'HOST', 'PARENT', 'ROOT', '{', '}', '[', ']', '[|', '|]', '(', ')', ',', ':', ';',
    '+', '-', '*', '==', '!', 'x|', '->', 'IF', 'THEN', 'ELSE', 'FI', 'SWITCH', 'ENDSWITCH', 'VAR', '#include', '#include?',
    '#codebase', '#HEX#0a#', '@', '"', '/*', '//', '\n', '\\u0041']

  it('never throws, always terminates, and places every diagnostic inside the text', () => {
    fc.assert(fc.property(fc.array(fc.constantFrom(...tokens), { maxLength: 60 }), fc.constantFrom(' ', '\n', ''), (parts, sep) => {
      const text = parts.join(sep === '' ? ' ' : sep)
      const r = parseText(text, 'fuzz.sf', { ignoreMissingIncludes: true })
      const lines = text.split(/\r\n|\r|\n/)
      for (const d of r.diagnostics) {
        expect(d.code).toMatch(/^SF[123]\d{3}$/)
        expect(d.pos.line).toBeGreaterThanOrEqual(1)
        expect(d.pos.line).toBeLessThanOrEqual(lines.length)
        expect(d.pos.col).toBeGreaterThanOrEqual(1)
      }
      const seen = new Set(r.diagnostics.map(d => `${d.pos.line}:${d.pos.col}`))
      expect(seen.size).toBe(r.diagnostics.length)
    }), { numRuns: 2000 })
  })

  it('never throws on arbitrary unicode text', () => {
    fc.assert(fc.property(fc.string({ unit: 'binary', maxLength: 200 }), text => {
      parseText(text, 'fuzz.sf', { ignoreMissingIncludes: true })
    }), { numRuns: 1000 })
  })
})
