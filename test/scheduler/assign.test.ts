import { fileURLToPath } from 'node:url'
import { describe, expect, it } from 'vitest'
import { assignScheduledHosts, hostStateOf } from '../../node/scheduler/assign.ts'
import type { MeshHostView } from '../../node/scheduler/assign.ts'
import { NoHostFitsError, PoolDescriptionError } from '../../node/scheduler/index.ts'
import { checkFile, checkText } from '../../node/sf/index.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'

// assignScheduledHosts on the resolved example and on small descriptions, with host views shaped as the mesh
// node's hosts() gives them.

const DISPATCH = fileURLToPath(new URL('../../examples/scheduler/dispatch.sf', import.meta.url))

export function meshHost (name: string, o: { freeMiB?: number, capacityMiB?: number, vcpus?: number, state?: MeshHostView['state'], driver?: string, aliases?: string[] } = {}): MeshHostView {
  const cap = o.capacityMiB ?? 4096
  return {
    peerId: `peer-${name}`,
    hostNames: [name, ...(o.aliases ?? [])],
    addrs: [],
    state: o.state ?? 'alive',
    capacity: { memoryMb: cap, vcpus: o.vcpus ?? 8 },
    load: { memoryMb: cap - (o.freeMiB ?? cap), vcpus: 0, domains: 0 },
    driver: o.driver ?? 'sim',
    misbehaviour: 0
  }
}

function dispatch (): SfJsonObject {
  const r = checkFile(DISPATCH)
  expect(r.diagnostics.filter(d => d.severity === 'error')).toEqual([])
  return r.config as SfJsonObject
}

const hostsOf = (cfg: SfJsonObject): Record<string, unknown> =>
  Object.fromEntries(Object.entries(cfg.VMs2Dispatch as SfJsonObject).filter(([, v]) => typeof v === 'object' && v !== null && 'memory' in v)
    .map(([k, v]) => [(v as SfJsonObject).hostname, (v as SfJsonObject).sfProcessHost]))

describe('assignScheduledHosts', () => {
  it('sets sfProcessHost on every Schedulee child of dispatch.sf, following free memory, without touching the input', () => {
    const cfg = dispatch()
    const before = JSON.stringify(cfg)
    // host1 has room for everything, host2 for one small VM more, host3 is nearly full.
    const hosts = [meshHost('host1', { freeMiB: 4096 }), meshHost('host2', { freeMiB: 1536 }), meshHost('host3', { freeMiB: 256 })]
    const { config, placements } = assignScheduledHosts(cfg, hosts, { seed: 7, pool: 'dispatch' })
    expect(JSON.stringify(cfg)).toBe(before)
    expect(placements.map(p => p.path)).toEqual(['VMs2Dispatch:unique24', 'VMs2Dispatch:unique25', 'VMs2Dispatch:unique26', 'VMs2Dispatch:unique27'])
    const where = hostsOf(config)
    expect(Object.keys(where).sort()).toEqual(['worker-1', 'worker-2', 'worker-3', 'worker-4'])
    // host3 (256 MiB free) fits none of them; the 1 GiB VM goes first, to the emptiest host.
    expect(Object.values(where)).not.toContain('host3')
    expect(where['worker-3']).toBe('host1')
    const mem = (h: string): number => placements.filter(p => p.host === h).length
    expect(mem('host1')).toBeGreaterThan(mem('host2'))
    // Each placement lists the candidates it weighed, cheapest first, the chosen one among them.
    for (const p of placements) {
      expect(p.candidates.map(c => c.host)).toContain(p.host)
      expect(p.candidates.every((c, i, a) => i === 0 || a[i - 1].cost <= c.cost)).toBe(true)
      expect(p.candidates.map(c => c.host)).not.toContain('host3')
    }
    // The rest of the description is untouched.
    expect(config.simpleScheduler).toEqual(cfg.simpleScheduler)
    expect((config.VMs2Dispatch as SfJsonObject).scheduler).toEqual((cfg.VMs2Dispatch as SfJsonObject).scheduler)
  })

  it('spreads dispatch.sf over 3 equal hosts, and the same seed gives the same placement', () => {
    const hosts = ['host1', 'host2', 'host3'].map(h => meshHost(h))
    const a = assignScheduledHosts(dispatch(), hosts, { seed: 3 })
    expect(new Set(a.placements.map(p => p.host)).size).toBe(3)
    expect(assignScheduledHosts(dispatch(), hosts, { seed: 3 }).placements.map(p => p.host)).toEqual(a.placements.map(p => p.host))
  })

  it('uses only the hosts the Scheduler names, out of 5', () => {
    const hosts = ['host1', 'host2', 'host3', 'host4', 'host5'].map(h => meshHost(h, { freeMiB: h === 'host4' || h === 'host5' ? 4096 : 2048 }))
    for (let seed = 1; seed <= 30; seed++) {
      const used = new Set(assignScheduledHosts(dispatch(), hosts, { seed }).placements.map(p => p.host))
      expect([...used].every(h => ['host1', 'host2', 'host3'].includes(h))).toBe(true)
    }
  })

  it('without a hosts vector, uses every live host and none that is dead or suspected', () => {
    const vm = (n: string): string => `${n} extends XenDomain { memory 256; kernel "/k"; ip "192.0.2.${n.charCodeAt(0)}"; hostname "${n}"; }`
    const r = checkText(`#include "org/smartfrog/components.sf"
#include "ch/cern/openlab/smartdomains/components.sf"
sfConfig extends Compound {
  s extends Scheduler;
  w extends Schedulee { scheduler LAZY ATTRIB s; ${['a', 'b', 'c', 'd'].map(vm).join(' ')} }
}`, 'open.sf')
    // Until the bundled schema makes Scheduler's hosts optional, its only complaint is that one.
    const errors = r.diagnostics.filter(d => d.severity === 'error')
    expect(errors.map(e => e.message)).toEqual(errors.length === 0 ? [] : [expect.stringContaining('Scheduler requires attribute hosts')])
    const xen = (n: string): SfJsonObject => ({ sfClass: 'ch.cern.openlab.smartdomains.XenDomainImpl', memory: 256, hostname: n })
    const config = r.config ?? { sfClass: 'org.smartfrog.sfcore.compound.CompoundImpl', s: { sfClass: 'ch.cern.openlab.smartdomains.SchedulerImpl' }, w: { sfClass: 'ch.cern.openlab.smartdomains.ScheduleeImpl', scheduler: { $ref: 'LAZY ATTRIB s' }, a: xen('a'), b: xen('b'), c: xen('c'), d: xen('d') } }
    const hosts = [meshHost('m1'), meshHost('m2', { state: 'dead' }), meshHost('m3', { state: 'suspect' }), meshHost('m4', { state: 'self' })]
    const { placements } = assignScheduledHosts(config, hosts, { seed: 1 })
    expect(placements).toHaveLength(4)
    expect(new Set(placements.map(p => p.host))).toEqual(new Set(['m1', 'm4']))
  })

  it('fails a VM no host can fit with a typed error naming the constraint and the best host', () => {
    const cfg = dispatch()
    ;((cfg.VMs2Dispatch as SfJsonObject).unique26 as SfJsonObject).memory = 4096
    const hosts = [meshHost('host1', { freeMiB: 2048 }), meshHost('host2', { freeMiB: 1024 }), meshHost('host3', { state: 'dead' })]
    let err: unknown
    try { assignScheduledHosts(cfg, hosts, { pool: 'dispatch' }) } catch (e) { err = e }
    expect(err).toBeInstanceOf(NoHostFitsError)
    const e = err as NoHostFitsError
    expect(e.name).toBe('NoHostFitsError')
    expect(e.pool).toBe('dispatch')
    expect(e.vmId).toBe('VMs2Dispatch/unique26')
    expect(e.message).toContain('memory: needs 4096 MiB, best host host1 has 2048 free (2 hosts)')
    expect(e.message).toContain('live: declared dead: host3')
  })

  it('fails on a driver no candidate has, naming it', () => {
    const cfg = dispatch()
    ;((cfg.VMs2Dispatch as SfJsonObject).unique24 as SfJsonObject).driver = 'xen'
    expect(() => assignScheduledHosts(cfg, ['host1', 'host2', 'host3'].map(h => meshHost(h, { driver: 'qemu' }))))
      .toThrow(/driver: needs xen \(host1, host2, host3\)/)
  })

  it('accepts a host named by one of its aliases, and skips excluded hosts', () => {
    const hosts = [meshHost('machine1.cern.ch', { aliases: ['host1'] }), meshHost('host2', { freeMiB: 512 }), meshHost('host3', { freeMiB: 512 })]
    const { placements } = assignScheduledHosts(dispatch(), hosts, { seed: 2, exclude: new Set(['host3']) })
    expect(placements.filter(p => p.host === 'machine1.cern.ch').length).toBeGreaterThanOrEqual(3)
    expect(placements.map(p => p.host)).not.toContain('host3')
  })

  it('leaves a description without Schedulee as it is, and refuses a scheduled child that pins its host', () => {
    const plain: SfJsonObject = { sfClass: 'org.smartfrog.sfcore.compound.CompoundImpl', vm: { sfClass: 'ch.cern.openlab.smartdomains.XenDomainImpl', memory: 256, sfProcessHost: 'x' } }
    expect(assignScheduledHosts(plain, [meshHost('x')])).toEqual({ config: plain, placements: [] })
    const pinned = dispatch()
    ;((pinned.VMs2Dispatch as SfJsonObject).unique24 as SfJsonObject).sfProcessHost = 'host1'
    expect(() => assignScheduledHosts(pinned, [meshHost('host1')])).toThrow(PoolDescriptionError)
  })

  it('reads the mesh view: capacity minus load, images and attributes from the caller', () => {
    const v = meshHost('h', { freeMiB: 1000, capacityMiB: 3000 })
    expect(hostStateOf(v, { imagesOf: () => ['slc3'], attributesOf: () => ({ rack: 'r1' }) })).toMatchObject({
      host: 'h', peer: 'peer-h', capacity: { memoryMiB: 3000, vcpus: 8 }, used: { memoryMiB: 2000, vcpus: 0 }, images: ['slc3'], attributes: { rack: 'r1' }
    })
    expect(hostStateOf({ ...v, capacity: undefined })).toBeUndefined()
    expect(hostStateOf({ ...v, hostNames: [] })).toBeUndefined()
  })
})
