import { describe, expect, it } from 'vitest'
import { checkFile } from '../../node/sf/index.ts'
import { claimsOf, isRemotePlaceholder, partOf, splitPool } from '../../node/deploy/split.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'

const hosts: Record<string, string> = { 'machine9.cern.ch': 'P9', 'machine10.cern.ch': 'P10', entry: 'PE', '10.1.2.3': 'P9' }
const resolveHost = (h: string): string | undefined => hosts[h]
const base = { pool: 'dist', entryPeer: 'PE', entryHost: 'entry', resolveHost }

function distVirtualPool (): SfJsonObject {
  const r = checkFile(new URL('../../examples/tutorial/distVirtualPool.sf', import.meta.url).pathname)
  if (r.config === undefined) throw new Error(r.diagnostics.map(d => d.message).join('\n'))
  return r.config
}

describe('splitPool', () => {
  it('splits distVirtualPool by sfProcessHost: root on the entry peer, each computer on its host', () => {
    const plan = splitPool(distVirtualPool(), base)
    expect(plan.parts.map(p => [p.path, p.peer, p.parentPath, p.parentPeer])).toEqual([
      ['', 'PE', undefined, undefined],
      ['computer1', 'P9', '', 'PE'],
      ['computer2', 'P10', '', 'PE']
    ])
    const root = plan.parts[0]
    // The root keeps a placeholder where each computer was, and the console (no sfProcessHost) with it.
    expect(isRemotePlaceholder(root.config.computer1)).toBe(true)
    expect(root.config.computer1).toEqual({ $data: true, $remote: { path: 'computer1', host: 'machine9.cern.ch', peer: 'P9' } })
    expect(typeof root.config.console).toBe('object')
    expect(root.remoteChildren.map(c => c.path)).toEqual(['computer1', 'computer2'])
    expect(root.syncTerminate).toBe(true)
    // The computer's children (no sfProcessHost of their own) stay with it, not with the root.
    const c1 = plan.parts[1]
    expect(Object.keys(c1.config)).toEqual(expect.arrayContaining(['loop', 'domain1', 'lvm', 'domain2', 'myShell']))
    expect(c1.livenessDelayMs).toBe(15_000)
    expect(c1.livenessFactor).toBe(2)
  })

  it('claims every domain name and address of the pool', () => {
    const c = claimsOf(splitPool(distVirtualPool(), base).parts)
    expect(c.names).toEqual(['domainLVM', 'domainLoopback'])
    expect(c.ips).toEqual(['999.999.999.997', '999.999.999.998', '999.999.999.999'])
  })

  it('reads sfProcessHost from the component itself, not from ancestors; nested hosts make nested parts', () => {
    const config: SfJsonObject = {
      a: { sfProcessHost: 'machine9.cern.ch', b: { c: { sfProcessHost: 'machine10.cern.ch', sfLivenessDelay: 2, d: {} } }, e: { sfProcessHost: '10.1.2.3' } }
    }
    const plan = splitPool(config, base)
    expect(plan.parts.map(p => [p.path, p.peer, p.parentPath])).toEqual([
      ['', 'PE', undefined], ['a', 'P9', ''], ['a:b:c', 'P10', 'a:b']
    ])
    // e names the same peer by address: it stays inside a's part.
    expect(isRemotePlaceholder(plan.parts[1].config.e)).toBe(false)
    expect(plan.parts[2].livenessDelayMs).toBe(2000)
    expect(partOf(plan.parts, 'a:b:c:d')?.path).toBe('a:b:c')
    expect(partOf(plan.parts, 'a:b')?.path).toBe('a')
    expect(partOf(plan.parts, 'a:bb')?.path).toBe('a')
  })

  it('puts the root where --at says', () => {
    const plan = splitPool({ x: {} }, { ...base, at: 'machine10.cern.ch' })
    expect(plan.parts[0].peer).toBe('P10')
  })

  it('refuses an unknown host naming the attribute path and the host', () => {
    let err: unknown
    try { splitPool({ a: { b: { sfProcessHost: 'nowhere.cern.ch' } } }, base) } catch (e) { err = e }
    expect(err).toMatchObject({ name: 'UnknownHostError', attrPath: 'a:b:sfProcessHost', host: 'nowhere.cern.ch', pool: 'dist' })
    expect(() => splitPool({}, { ...base, at: 'ghost' })).toThrow(expect.objectContaining({ name: 'UnknownHostError', attrPath: '--at' }))
    expect(() => splitPool({ a: { sfProcessHost: 3 } }, base)).toThrow(expect.objectContaining({ name: 'BadProcessHostError' }))
  })

  it('leaves DATA and LAZY descriptions alone even with an sfProcessHost', () => {
    const plan = splitPool({ d: { $data: true, sfProcessHost: 'nowhere' } }, base)
    expect(plan.parts).toHaveLength(1)
  })
})
