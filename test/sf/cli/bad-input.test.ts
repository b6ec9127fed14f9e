import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import { describe, expect, it } from 'vitest'
import { generatePool } from '../../../simulations/bench/sf-resolve.ts'

// Bad input through the WHOLE `sdpeer check` (the real launcher, a child process: parser, includes, resolver,
// component checks, output): each case ends with a diagnostic or a clear error and exit 1 or 2 (or 0 when the
// input is in fact valid), never a crash, a hang, a stack trace or a stack overflow.

const SDPEER = fileURLToPath(new URL('../../../cli/sdpeer.js', import.meta.url))
const EXAMPLE = fileURLToPath(new URL('../../../examples/tutorial/localVirtualPool.sf', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'sf-bad-'))

interface Run { exitCode: number, stdout: string, stderr: string }

async function check (name: string, text: string, args: string[] = []): Promise<Run> {
  writeFileSync(join(dir, name), text)
  const r = await execa(process.execPath, [SDPEER, 'check', ...args, name], { cwd: dir, reject: false, timeout: 120_000, env: { PATH: process.env.PATH ?? '' } })
  const run = { exitCode: r.exitCode ?? -1, stdout: String(r.stdout), stderr: String(r.stderr) }
  // Never a crash: no JavaScript stack, no RangeError, no signal, a documented exit status.
  expect(run.stderr).not.toMatch(/^\s+at /m)
  expect(run.stderr).not.toMatch(/RangeError|Maximum call stack|heap out of memory/)
  expect([0, 1, 2]).toContain(run.exitCode)
  return run
}

/** The `FILE:LINE:COL: error SFnnnn: message` lines of a run. */
function errors (r: Run): string[] {
  return r.stderr.split('\n').filter(l => /: error SF[0-9]{4}: /.test(l))
}

function codes (r: Run): string[] {
  return errors(r).map(l => /error (SF[0-9]{4})/.exec(l)![1]!)
}

const HEAD = '#include "org/smartfrog/components.sf"\n#include "ch/cern/openlab/smartdomains/components.sf"\n'

describe('sdpeer check on bad input', () => {
  it('a truncated file: exit 1, with a diagnostic at the end of the file', async () => {
    const full = readFileSync(EXAMPLE, 'utf8')
    const r = await check('truncated.sf', full.slice(0, Math.floor(full.length * 0.6)))
    expect(r.exitCode).toBe(1)
    expect(errors(r).length).toBeGreaterThan(0)
    expect(errors(r).every(l => l.startsWith('truncated.sf:'))).toBe(true)
    // One diagnostic per position: the cut statement and the unclosed braces all end there.
    expect(errors(r)[errors(r).length - 1]).toMatch(/found end of file|is never closed/)
  })

  it('unbalanced braces, one too many and one too few: exit 1 with both diagnostics', async () => {
    const many = await check('extra.sf', 'sfConfig extends { a 1; } }\nb 2;\n')
    expect(many.exitCode).toBe(1)
    expect(errors(many)[0]).toMatch(/^extra\.sf:1:27: error SF2/)
    const few = await check('missing.sf', 'sfConfig extends {\n  a extends {\n    b 1;\n}\n')
    expect(few.exitCode).toBe(1)
    expect(few.stderr).toMatch(/"\{" opened at 1:18 is never closed/)
  })

  it('an unknown reference: exit 1 naming the reference and its position', async () => {
    const r = await check('unknown.sf', 'sfConfig extends {\n  a 1;\n  b ATTRIB nosuch;\n}\n')
    expect(r.exitCode).toBe(1)
    expect(errors(r)).toHaveLength(1)
    expect(errors(r)[0]).toMatch(/^unknown\.sf:3:5: error SF6\d{3}: .*nosuch/)
  })

  it('cyclic extends, and cyclic links: exit 1, no stack overflow', async () => {
    const ext = await check('cyclic-extends.sf', 'A extends B { a 1; }\nB extends A { b 1; }\nsfConfig extends A;\n')
    expect(ext.exitCode).toBe(1)
    expect(codes(ext).length).toBeGreaterThan(0)
    const links = await check('cyclic-links.sf', 'sfConfig extends { a b; b c; c a; }\n')
    expect(links.exitCode).toBe(1)
    expect(codes(links).length).toBeGreaterThan(0)
  })

  it('cyclic includes: exit 1 with the cycle spelt out', async () => {
    writeFileSync(join(dir, 'inc-b.sf'), '#include "inc-a.sf"\nb 1;\n')
    const r = await check('inc-a.sf', '#include "inc-b.sf"\nsfConfig extends { a 1; }\n')
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/include cycle: .*inc-a\.sf -> .*inc-b\.sf -> .*inc-a\.sf/)
  })

  it('a wrong attribute type: exit 1 with the attribute path', async () => {
    const r = await check('wrong-type.sf', HEAD + 'sfConfig extends Compound {\n  vm extends XenDomain { memory "lots"; vcpus true; domainName "a"; ip "10.0.0.1"; hostname "a"; kernel "/k"; }\n}\n')
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/vm:memory: expected a size/)
    expect(r.stderr).toMatch(/vm:vcpus: expected an Integer/)
  })

  it('a 50 MB file: a whole pool cut short is exit 1 at its end; 50 MB of comment and string resolves', async () => {
    let pool = generatePool(160_000)
    expect(pool.length).toBeGreaterThan(50_000_000)
    pool = pool.slice(0, 50_000_000)
    const cut = await check('big-cut.sf', pool)
    expect(cut.exitCode).toBe(1)
    expect(errors(cut).some(l => /is never closed/.test(l))).toBe(true)
    const big = '/*' + ' padding '.repeat(3_000_000) + '*/\n' + `sfConfig extends { s "${'x'.repeat(20_000_000)}"; n 1; }\n`
    expect(big.length).toBeGreaterThan(47_000_000)
    const ok = await check('big-ok.sf', big, ['--json'])
    expect(ok.exitCode).toBe(0)
    expect(JSON.parse(ok.stdout).n).toBe(1)
  }, 180_000)

  it('10,000 levels of nested braces: exit 1 with one nesting diagnostic', async () => {
    const r = await check('deep.sf', 'sfConfig extends ' + 'extends { a '.repeat(10_000).slice(8) + '1;' + ' }'.repeat(10_000) + '\n')
    expect(r.exitCode).toBe(1)
    expect(r.stderr).toMatch(/nesting deeper than \d+ levels/)
  })

  it('components nested as deep as the parser allows: resolved, printed and written as JSON', async () => {
    const depth = 999
    const text = 'sfConfig extends {\n' + 'a extends {\n'.repeat(depth - 1) + 'leaf 1;\n' + '}\n'.repeat(depth) + '\n'
    const json = await check('deep-ok.sf', text, ['--json'])
    expect(json.exitCode).toBe(0)
    let o = JSON.parse(json.stdout) as Record<string, unknown>
    for (let i = 1; i < depth; i++) o = o.a as Record<string, unknown>
    expect(o.leaf).toBe(1)
    const printed = await check('deep-ok.sf', text, ['--print'])
    expect(printed.exitCode).toBe(0)
  }, 60_000)

  it('a 10,000-deep extends chain and a 10,000-long link chain: resolved or refused with a diagnostic', async () => {
    let text = 'P0 extends { v0 0; }\n'
    for (let i = 1; i < 10_000; i++) text += `P${i} extends P${i - 1};\n`
    text += 'sfConfig extends { x extends P9999; l0 1;\n'
    for (let i = 1; i < 10_000; i++) text += `l${i} l${i - 1};\n`
    const r = await check('chains.sf', text + '}\n', ['--json'])
    if (r.exitCode === 0) {
      const c = JSON.parse(r.stdout) as Record<string, unknown>
      expect(c.l9999).toBe(1)
      expect((c.x as Record<string, unknown>).v0).toBe(0)
    } else {
      expect(r.exitCode).toBe(1)
      expect(codes(r).every(c => /^SF[46]/.test(c))).toBe(true)
    }
  }, 60_000)

  it('binary garbage: exit 1 with lexical diagnostics', async () => {
    const bytes = Buffer.alloc(4096)
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 7919 + 13) % 256
    const r = await check('garbage.sf', bytes.toString('latin1'))
    expect(r.exitCode).toBe(1)
    expect(errors(r).length).toBeGreaterThan(0)
  })
})
