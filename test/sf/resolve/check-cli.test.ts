import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import { describe, expect, it } from 'vitest'

// `sdpeer check` as users run it: a real child process, real files, exit statuses 0 / 1 / 2.

const CLI = fileURLToPath(new URL('../../../cli/main.ts', import.meta.url))
const EXAMPLES = fileURLToPath(new URL('../../../examples/', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'sf-check-'))
const sdpeer = (args: string[], cwd = dir) => execa(process.execPath, [CLI, 'check', ...args], { cwd, reject: false, env: { PATH: process.env.PATH ?? '' } })

describe('sdpeer check', () => {
  it('prints the resolved tree in .sf syntax, warnings on stderr, exit 0', async () => {
    const r = await sdpeer(['glite/lvmVm.sf'], EXAMPLES)
    expect(r.exitCode).toBe(0)
    expect(r.stdout).toMatch(/^sfConfig extends \{\n/)
    expect(r.stdout).toContain('storageBackend LAZY ATTRIB lvm;')
    expect(r.stdout).toContain('keepVolumes false;')
    expect(r.stderr).toContain('glite/lvmVm.sf:27:9: warning SF9002: sfConfig:Vm1:ip:')
  })

  it('prints JSON with --json', async () => {
    const r = await sdpeer(['--json', 'tutorial/localVirtualPool.sf'], EXAMPLES)
    expect(r.exitCode).toBe(0)
    const config = JSON.parse(r.stdout)
    expect(config.domain2.storageBackend).toEqual({ $ref: 'LAZY ATTRIB lvm' })
    expect(config.myShell.exec.$data).toBe(true)
  })

  it('exits 1 with every error as FILE:LINE:COL: error SFnnnn: message', async () => {
    writeFileSync(join(dir, 'bad.sf'), 'sfConfig extends {\n  a nowhere;\n  b TBD;\n  c extends Missing;\n}\n')
    const r = await sdpeer(['bad.sf'])
    expect(r.exitCode).toBe(1)
    expect(r.stdout).toBe('')
    const lines = r.stderr.split('\n').filter(l => l.includes(': error '))
    expect(lines.map(l => /^[^ ]+ error SF[0-9]+/.exec(l)?.[0])).toEqual(['bad.sf:4:13: error SF4001', 'bad.sf:2:5: error SF6001', 'bad.sf:3:5: error SF6003'])
    expect(r.stderr).toContain('3 errors, 0 warnings')
  })

  it('exits 2 for a missing file or include, naming the paths tried', async () => {
    const r = await sdpeer(['absent.sf'])
    expect(r.exitCode).toBe(2)
    expect(r.stderr).toContain(join(dir, 'absent.sf'))
    writeFileSync(join(dir, 'inc.sf'), '#include "no/such/file.sf"\nsfConfig extends { }\n')
    const r2 = await sdpeer(['-I', '/nonexistent-dir', 'inc.sf'])
    expect(r2.exitCode).toBe(2)
    expect(r2.stderr).toContain('/nonexistent-dir/no/such/file.sf')
  })

  it('takes PROPERTY values from -D and refuses a malformed -D with exit 2', async () => {
    writeFileSync(join(dir, 'prop.sf'), 'sfConfig extends { who PROPERTY user.name; }\n')
    const r = await sdpeer(['--json', '-D', 'user.name=ada', 'prop.sf'])
    expect(r.exitCode).toBe(0)
    expect(JSON.parse(r.stdout)).toEqual({ who: 'ada' })
    expect((await sdpeer(['-D', 'novalue', 'prop.sf'])).exitCode).toBe(2)
  })
})
