import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { Attribute } from '../../../node/sf/ast.ts'
import { SfFileNotFoundError } from '../../../node/sf/diagnostics.ts'
import { DEFAULT_LIBRARY_DIR, includeCandidates } from '../../../node/sf/includes.ts'
import { parseFile, parseText } from '../../../node/sf/parser.ts'
import { at, fmt } from './helpers.ts'

let root: string
const write = (rel: string, text: string): string => {
  const p = join(root, rel)
  mkdirSync(dirname(p), { recursive: true })
  writeFileSync(p, text)
  return p
}
const names = (attrs: Attribute[]): string[] => attrs.map(a => a.name.join(':'))
const whichValue = (attrs: Attribute[]): unknown => {
  const w = attrs.find(a => a.name[0] === 'which')?.value
  return w?.type === 'string' ? w.value : undefined
}

beforeEach(() => { root = mkdtempSync(join(tmpdir(), 'sf-includes-')) })
afterEach(() => { rmSync(root, { recursive: true, force: true }) })

describe('include search order', () => {
  it('looks in cwd, the including file\'s directory, each -I in order, then the library', () => {
    const opts = { cwd: join(root, 'cwd'), includeDirs: [join(root, 'i1'), join(root, 'i2')], libraryDir: join(root, 'lib') }
    write('src/main.sf', '#include "/x/inc.sf"\n')
    for (const d of ['cwd', 'src', 'i1', 'i2', 'lib']) write(`${d}/x/inc.sf`, `which "${d}";`)
    const seen: unknown[] = []
    for (const d of ['cwd', 'src', 'i1', 'i2', 'lib']) {
      const r = parseFile(join(root, 'src/main.sf'), opts)
      expect(r.diagnostics).toEqual([])
      seen.push(whichValue(r.file.attrs))
      rmSync(join(root, d, 'x/inc.sf'))
    }
    expect(seen).toEqual(['cwd', 'src', 'i1', 'i2', 'lib'])
  })

  it('lists the candidates, leading "/" stripped, defaulting to the bundled library', () => {
    expect(includeCandidates('/org/a.sf', 'dir/f.sf', { cwd: '/w', includeDirs: ['/inc'] })).toEqual(
      ['/w/org/a.sf', '/w/dir/org/a.sf', '/inc/org/a.sf', join(DEFAULT_LIBRARY_DIR, 'org/a.sf')])
    expect(DEFAULT_LIBRARY_DIR.replace(/\\/g, '/')).toMatch(/node\/sf\/library\/?$/)
  })

  it('throws SfFileNotFoundError naming every place tried and the #include position', () => {
    write('main.sf', 'a 1;\n  #include "missing/m.sf"\n')
    let err: unknown
    try { parseFile(join(root, 'main.sf'), { cwd: root, includeDirs: [join(root, 'inc')], libraryDir: join(root, 'lib') }) } catch (e) { err = e }
    expect(err).toBeInstanceOf(SfFileNotFoundError)
    const e = err as SfFileNotFoundError
    expect(e.name).toBe('SfFileNotFoundError')
    expect(e.tried).toEqual([join(root, 'missing/m.sf'), join(root, 'inc/missing/m.sf'), join(root, 'lib/missing/m.sf')])
    expect(e.from).toEqual({ file: join(root, 'main.sf'), line: 2, col: 3 })
    expect(e.message).toContain(join(root, 'lib/missing/m.sf'))
  })

  it('throws SfFileNotFoundError for a missing root file', () => {
    expect(() => parseFile('nope.sf', { cwd: root })).toThrow(SfFileNotFoundError)
  })

  it('ignores a missing #include? but includes one that exists', () => {
    write('opt.sf', 'o 1;')
    const r = parseText('#include? "none.sf"\n#include? "opt.sf";\na 2', join(root, 'main.sf'), { cwd: root })
    expect(r.diagnostics).toEqual([])
    expect(names(r.file.attrs)).toEqual(['o', 'a'])
  })
})

describe('splicing', () => {
  it('splices in place at top level and inside bodies, with the included file\'s positions', () => {
    write('parts/p.sf', 'extends {\n  p1 1;\n  p2 2;\n}\n')
    const r = parseText('a 0;\n#include "parts/p.sf"\nb extends {\n  x 1; #include "parts/p.sf"; y 2\n}\n', join(root, 'main.sf'), { cwd: root })
    expect(r.diagnostics).toEqual([])
    expect(names(r.file.attrs)).toEqual(['a', 'p1', 'p2', 'b'])
    const b = r.file.attrs[3].value
    expect(b.type === 'component' && b.prototypes[0].kind === 'body' ? names(b.prototypes[0].attrs) : []).toEqual(['x', 'p1', 'p2', 'y'])
    expect(r.positions.decode(r.file.attrs[1].pos)).toEqual({ file: join(root, 'parts/p.sf'), line: 2, col: 3 })
    expect(r.file.files).toEqual([join(root, 'main.sf'), join(root, 'parts/p.sf')])
  })

  it('parses a file included many times once, giving each place its own copy', () => {
    write('lib.sf', 'shared extends { v 1 }')
    const r = parseText('#include "lib.sf"\nc extends { #include "lib.sf" }\n#include "lib.sf"', join(root, 'main.sf'), { cwd: root })
    expect(r.file.files).toEqual([join(root, 'main.sf'), join(root, 'lib.sf')])
    expect(r.file.attrs[0]).not.toBe(r.file.attrs[2])
    expect(r.file.attrs[0]).toEqual(r.file.attrs[2])
  })

  it('reports syntax errors of an included file at its own path, and carries on', () => {
    write('bad.sf', 'ok 1;\nbroken extends ;\n')
    const r = parseText('#include "bad.sf"\nafter 1', 'main.sf', { cwd: root })
    expect(fmt(r.diagnostics)).toEqual([`${join(root, 'bad.sf')}:2:16: error SF2006: expected a prototype ("{", a reference or NULL) after "extends", found ";"`])
    expect(names(r.file.attrs)).toEqual(['ok', 'broken', 'after'])
  })

  it('reports an include cycle naming it, once, and stops there', () => {
    write('a.sf', 'a 1;\n#include "b.sf"\n')
    write('b.sf', 'b 1;\n#include "a.sf"\n')
    const r = parseFile('a.sf', { cwd: root })
    expect(at(r.diagnostics)).toEqual(['SF3001@2:1'])
    expect(r.diagnostics[0].pos.file).toBe(join(root, 'b.sf'))
    expect(r.diagnostics[0].message).toBe(`include cycle: ${join(root, 'a.sf')} -> ${join(root, 'b.sf')} -> ${join(root, 'a.sf')}`)
    expect(names(r.file.attrs)).toEqual(['a', 'b'])
  })

  it('reports a file including itself', () => {
    write('self.sf', 'x 1; #include "self.sf"')
    const r = parseFile(join(root, 'self.sf'))
    expect(at(r.diagnostics)).toEqual(['SF3001@1:6'])
  })

  it('parses and ignores #codebase', () => {
    write('t.sf', 't 1')
    const r = parseText('#codebase "http://localhost:8080/test.jar" #include "t.sf"', 'main.sf', { cwd: root })
    expect(r.diagnostics).toEqual([])
    expect(names(r.file.attrs)).toEqual(['t'])
  })
})
