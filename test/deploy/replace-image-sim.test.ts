import { describe, expect, it } from 'vitest'
import { DeployCluster } from '../../simulations/deploy/cluster.ts'
import { LiveReplacement } from '../../node/deploy/replacement.ts'
import { imageRefsOf } from '../../node/images/service.ts'
import type { MeshHostView } from '../../node/scheduler/assign.ts'
import { SF_CLASS } from '../../node/sf/component-classes.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'
import { computer, pool } from './fixtures.ts'

// A scheduled computer (a compound holding its disk and its VM, a child of a Schedulee) is re-placed by the
// scheduler as a whole, as it was placed: among the Scheduler's hosts only, by the demand of the VMs inside, and
// preferring a host that announces its base image (the copy costs more than any load difference). Before, it was
// re-deployed like the pool's root on any live participant, the entry host first, whatever its Scheduler said.
// Deploy peers and fake engines on a virtual clock, every peer running its re-placement duty as in the daemon.

const HOSTS = ['entry', 'h1', 'h2', 'h3', 'h4']
const DETECTION_MS = 1000

function schedulee (n: number, vm: SfJsonObject = {}): SfJsonObject {
  const work: SfJsonObject = { sfClass: SF_CLASS.Schedulee, scheduler: { $ref: 'LAZY ATTRIB s' } }
  // Placed already (what the deploying peer's scheduler does): every computer on h1.
  for (let i = 0; i < n; i++) {
    const c = computer('h1', [{ name: `d${i}`, ip: `10.0.0.${i + 1}`, memory: 512 }])
    Object.assign(c[`d${i}`] as SfJsonObject, { baseImage: 'image:slc', ...vm })
    work[`c${i}`] = c
  }
  return pool({ s: { sfClass: SF_CLASS.Scheduler, hosts: ['h1', 'h2', 'h3', 'h4'] }, work })
}

/** Deploy peers and their re-placement duties; `view` adds to each host's directory entry (driver, images). */
function meshOf (view: (host: string) => Partial<MeshHostView>): { c: DeployCluster, kill: (host: string) => void, stop: () => void } {
  const killedAt = new Map<string, number>()
  const c: DeployCluster = new DeployCluster({ hosts: HOSTS.map(name => ({ name })), seed: 5, detectionMs: DETECTION_MS, timings: { requestTimeoutMs: 500 } })
  const isLive = (p: string): boolean => { const t = killedAt.get(p); return t === undefined || c.clock.now() < t + DETECTION_MS }
  const directory = (): MeshHostView[] => c.peers.map(p => ({
    peerId: p.id,
    hostNames: [p.host],
    state: isLive(p.id) ? 'alive' : 'dead',
    capacity: { memoryMb: 16384, vcpus: 64 },
    load: { memoryMb: p.host === 'entry' ? 0 : 2048, vcpus: 0, domains: 0 },
    ...view(p.host)
  })) as unknown as MeshHostView[]
  const duties = c.peers.map(p => {
    const d = new LiveReplacement({ peer: p.peer, clock: c.clock, isLive, members: () => c.peers.map(x => x.id).filter(isLive), hosts: directory, imagesOf: imageRefsOf, log: () => {}, sweepMs: 500 })
    d.start()
    return { host: p.host, d }
  })
  return {
    c,
    kill: (host) => {
      killedAt.set(`peer-${host}`, c.clock.now())
      duties.find(x => x.host === host)!.d.stop()
      c.kill(host)
    },
    stop: () => { for (const x of duties) x.d.stop() }
  }
}

const placedOn = (c: DeployCluster, pool: string): unknown[] => c.get('h2').peer.registry.get(pool)!.parts
  .filter(p => p.path.startsWith('work:c')).map(p => [p.path, p.host, p.epoch, p.placement ?? 'running'])

describe('re-placing a scheduled computer whose base image some hosts hold', () => {
  it('goes to a Scheduler host announcing the image, with the demand of its VMs, never to the entry host', async () => {
    // h2 and h4 have the same room; only h3 announces the image. The entry host is emptier than all of them.
    const { c, kill, stop } = meshOf(host => host === 'h3' ? { images: ['slc'] } : {})
    await c.settle(c.get('entry').peer.deploy('imgpool', schedulee(3)))
    const before = c.get('h2').peer.registry.get('imgpool')!
    expect(before.vms?.map(v => ({ path: v.path, pinned: v.pinned, memoryMiB: v.memoryMiB, image: v.image }))).toEqual([0, 1, 2].map(i => ({ path: `work:c${i}`, pinned: false, memoryMiB: 512, image: 'image:slc' })))
    expect(before.partPlans?.map(p => p.path)).toEqual([''])

    kill('h1')
    await c.runFor(10_000)
    expect(placedOn(c, 'imgpool')).toEqual([0, 1, 2].map(i => [`work:c${i}`, 'h3', 2, 'running']))
    // h3 runs the three computers (3 x 512 MiB, as its own accounting says); the entry and h2, h4 took nothing.
    // (Small VMs: a copy of the 1 GiB image weighs 10 s, as much as 10% more load, so bigger ones would spread.)
    expect(c.get('h3').engine.committed.memoryMiB).toBe(3 * 512)
    for (const h of ['h2', 'h4']) expect(c.get(h).engine.live()).toEqual([])
    expect(c.get('entry').engine.committed.memoryMiB).toBe(0)
    stop()
  })

  it('keeps the driver and `requires` it was placed by: the host holding the image but the wrong driver is passed over', async () => {
    // h3 holds the image but runs sim; h2 and h4 run xen, and `requires` rules h2 out.
    const { c, kill, stop } = meshOf(host => ({ driver: host === 'h3' ? 'sim' : 'xen', ...(host === 'h3' ? { images: ['slc'] } : {}) }))
    await c.settle(c.get('entry').peer.deploy('drvpool', schedulee(2, { driver: 'xen', requires: 'host != "h2"' })))
    expect(c.get('h2').peer.registry.get('drvpool')!.vms?.map(v => [v.driver, v.requires])).toEqual([['xen', 'host != "h2"'], ['xen', 'host != "h2"']])
    kill('h1')
    await c.runFor(10_000)
    expect(placedOn(c, 'drvpool')).toEqual([0, 1].map(i => [`work:c${i}`, 'h4', 2, 'running']))
    for (const h of ['h2', 'h3']) expect(c.get(h).engine.live()).toEqual([])
    expect(c.get('entry').engine.committed.memoryMiB).toBe(0)
    stop()
  })
})
