import { readdirSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { describe, expect, it } from 'vitest'
import { checkFile } from '../../node/sf/index.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'

// Every pool in examples/ (copies of the SmartDomains seeds) checks against the bundled library, and the tutorial's
// claim holds: domain1 of localVirtualPool.sf is the same component as domain1 of domain1-expanded.sf.

const EXAMPLES = new URL('../../examples/', import.meta.url).pathname

function sfFiles (dir: string): string[] {
  return readdirSync(dir).sort().flatMap(e => {
    const p = join(dir, e)
    return statSync(p).isDirectory() ? sfFiles(p) : e.endsWith('.sf') ? [p] : []
  })
}

// examples/qemu/ reads the guest's directory as PROPERTY SDPEER_GUEST_DIR, as its header says to pass it.
const check = (file: string) => checkFile(file, { cwd: dirname(file), env: {}, defines: { SDPEER_GUEST_DIR: '/var/lib/sdpeer-guest' } })

describe('examples/', () => {
  const files = sfFiles(EXAMPLES)
  it('has the seed pools', () => { expect(files.length).toBeGreaterThanOrEqual(5) })
  for (const f of files) {
    it(`${relative(EXAMPLES, f)} checks without errors`, () => {
      const r = check(f)
      expect(r.diagnostics.filter(d => d.severity === 'error')).toEqual([])
      expect(r.config).toBeDefined()
      // Warnings are about values, all with a position in a file of the example or the library.
      for (const d of r.diagnostics) expect(d.code).toMatch(/^SF9/)
    })
  }

  it('localVirtualPool.sf domain1 resolves to the same attributes as domain1-expanded.sf', () => {
    const pool = check(join(EXAMPLES, 'tutorial/localVirtualPool.sf')).config!
    const expanded = check(join(EXAMPLES, 'tutorial/domain1-expanded.sf')).config!
    const a = pool.domain1 as SfJsonObject
    const b = expanded.domain1 as SfJsonObject
    expect(a).toEqual(b)
    expect(a.memory).toBe(512)
    expect(a.storageBackend).toEqual({ $ref: 'LAZY ATTRIB loop' })
    expect(a.sfClass).toBe('ch.cern.openlab.smartdomains.XenDomainImpl')
  })

  it('lvmVm.sf: the String "false" of keepVolumes deploys as the Boolean, with a warning', () => {
    const r = check(join(EXAMPLES, 'glite/lvmVm.sf'))
    expect((r.config!.lvm as SfJsonObject).keepVolumes).toBe(false)
    const w = r.diagnostics.find(d => d.code === 'SF9010')!
    expect(w.message).toContain('sfConfig:lvm:keepVolumes')
    expect(w.pos.line).toBe(17)
  })

  it('distVirtualPool.sf keeps sfProcessHost on each physical host and warns about the impossible addresses', () => {
    const r = check(join(EXAMPLES, 'tutorial/distVirtualPool.sf'))
    expect((r.config!.computer1 as SfJsonObject).sfProcessHost).toBe('machine9.cern.ch')
    expect((r.config!.computer2 as SfJsonObject).sfProcessHost).toBe('machine10.cern.ch')
    const ips = r.diagnostics.filter(d => d.code === 'SF9002' && d.message.includes(':ip:'))
    expect(ips.map(d => d.message.split(':').slice(0, 4).join(':'))).toContain('sfConfig:computer1:domain1:ip')
    // netmask 255.255.0.0 is fine.
    expect(r.diagnostics.some(d => d.message.includes('netmask'))).toBe(false)
  })
})
