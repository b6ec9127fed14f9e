import { describe, expect, it } from 'vitest'
import { SCHEDULED, TUTORIAL, localiseGuest, localiseScheduled, localiseTutorial, resolveExample, QEMU_GUEST } from '../../node/demo/pools.ts'
import { hostNames } from '../../node/demo/demo.ts'
import { components } from '../../node/security/walk.ts'
import { SF_CLASS } from '../../node/sf/component-classes.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'

// The demo deploys the repository's examples with only their placeholders replaced: everything else, above all the
// placement (sfProcessHost), must be the example's.

function byPath (cd: SfJsonObject): Map<string, SfJsonObject> {
  return new Map([...components(cd)].map(v => [v.path, v.component]))
}

const CHANGED = new Set(['ip', 'gateway', 'netmask', 'baseImage', 'volumeSize', 'swapSize'])

describe('the demo\'s pools', () => {
  it('localises the tutorial: addresses, image and sizes only; every sfProcessHost as written', () => {
    const original = resolveExample(TUTORIAL)
    const local = localiseTutorial(resolveExample(TUTORIAL), '/tmp/demo/base.tar.gz')
    const before = byPath(original)
    const after = byPath(local)
    expect([...after.keys()]).toEqual([...before.keys()])
    for (const [path, c] of after) {
      const o = before.get(path)!
      for (const k of new Set([...Object.keys(o), ...Object.keys(c)])) {
        if (!CHANGED.has(k) && !(typeof o[k] === 'object' && o[k] !== null && 'sfClass' in (o[k] as object))) expect([path, k, c[k]]).toEqual([path, k, o[k]])
      }
    }
    expect(after.get('computer1')!.sfProcessHost).toBe('machine9.cern.ch')
    expect(after.get('computer2')!.sfProcessHost).toBe('machine10.cern.ch')
    const ips = [...after.values()].filter(c => c.sfClass === SF_CLASS.XenDomain).map(c => c.ip)
    expect(new Set(ips).size).toBe(3)
    for (const ip of ips) expect(ip).toMatch(/^198\.51\.100\.\d+$/)
    expect(after.get('computer1:lvm')!.baseImage).toBe('/tmp/demo/base.tar.gz')
  })

  it('gives the scheduler the demo\'s hosts, and its VMs addresses apart from the tutorial\'s', () => {
    const cd = localiseScheduled(resolveExample(SCHEDULED), hostNames(3))
    const scheduler = [...components(cd)].find(v => v.component.sfClass === SF_CLASS.Scheduler)!.component
    expect(scheduler.hosts).toEqual(['machine9.cern.ch', 'machine10.cern.ch', 'machine11.cern.ch'])
    for (const { component: c } of components(cd)) if (c.sfClass === SF_CLASS.XenDomain) expect(c.ip).toMatch(/^192\.0\.2\./)
  })

  it('names each qemu guest after its pool and gives it its own address', () => {
    const a = localiseGuest(resolveExample(QEMU_GUEST, { SDPEER_GUEST_DIR: '/g', SDPEER_PORT1: '8081' }), 'guest-machine9', 0)
    const b = localiseGuest(resolveExample(QEMU_GUEST, { SDPEER_GUEST_DIR: '/g', SDPEER_PORT1: '8082' }), 'guest-machine10', 1)
    const dom = (cd: SfJsonObject): SfJsonObject => [...components(cd)].find(v => v.component.sfClass === SF_CLASS.XenDomain)!.component
    expect([dom(a).hostname, dom(a).ip, dom(b).hostname, dom(b).ip]).toEqual(['guest-machine9', '10.0.2.15', 'guest-machine10', '10.0.2.16'])
    expect(byPath(a).get('disk1')!.domainName).toBe('guest-machine9')
    expect(dom(a).kernel).toBe('/g/vmlinuz')
  })

  it('names hosts as the tutorial does, then further machines', () => {
    expect(hostNames(4)).toEqual(['machine9.cern.ch', 'machine10.cern.ch', 'machine11.cern.ch', 'machine12.cern.ch'])
  })
})
