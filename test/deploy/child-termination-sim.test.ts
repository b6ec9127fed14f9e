import { describe, expect, it } from 'vitest'
import { DeployCluster } from '../../simulations/deploy/cluster.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'
import { computer, pool } from './fixtures.ts'

// A remote child that ends, across the mesh, as on one host: its termination record lands on its parent (listed in
// the pool's status, with the reason, from any peer), the parent stops pinging it, and the component holding it ends
// too only under sfSyncTerminate. VMs pinned by their own sfProcessHost are the children whose host may die.

const hosts = [{ name: 'entry' }, { name: 'h1' }, { name: 'h2' }, { name: 'h3' }]
const xen = 'ch.cern.openlab.smartdomains.XenDomainImpl'
const vm = (host: string, name: string, ip: string): SfJsonObject => ({ sfClass: xen, sfProcessHost: host, domainName: name, ip, memory: 512, vcpus: 1 })

/** A computer on h1, and one VM pinned on each of h2 and h3; the root's own component on the entry peer. */
function pinnedPool (extra: SfJsonObject = {}): SfJsonObject {
  return pool({
    a: computer('h1', [{ name: 'da', ip: '10.0.0.1' }]),
    vm2: vm('h2', 'v2', '10.0.0.2'),
    vm3: vm('h3', 'v3', '10.0.0.3')
  }, { local: { sfClass: 'org.smartfrog.services.management.DeployManagementImpl' }, sfLivenessDelay: 1, ...extra })
}

const line = (st: { components: Array<{ path: string, state: string, reason?: string }> }, path: string): string => {
  const c = st.components.find(x => x.path === path)
  return c === undefined ? 'absent' : `${c.state}${c.reason !== undefined ? `: ${c.reason}` : ''}`
}

/** Pings sent to each child path from now on. */
function countPings (c: DeployCluster): Map<string, number> {
  const n = new Map<string, number>()
  c.net.beforeDeliver = (_from, _to, req) => { if (req.type === 'ping') n.set(req.path, (n.get(req.path) ?? 0) + 1) }
  return n
}

describe('a remote child ends: its record crosses the mesh, sfSyncTerminate decides', () => {
  it('sfSyncTerminate false: the parent runs on; the child is listed with its record from any peer, and no longer pinged', async () => {
    const c = new DeployCluster({ hosts, seed: 11, timings: { requestTimeoutMs: 500 } })
    await c.settle(c.get('entry').peer.deploy('p', pinnedPool({ sfSyncTerminate: false })))
    c.get('h2').engine.crash('p', 'vm2', 'vm2')
    await c.runFor(500)
    const pings = countPings(c)
    await c.runFor(3000)
    expect(pings.get('vm2')).toBeUndefined()
    expect(pings.get('vm3')).toBeGreaterThanOrEqual(2)
    expect(c.get('h3').peer.ls()[0].state).toBe('running')
    expect(c.get('entry').engine.live('p').map(x => x.path)).toEqual(['', 'local'])
    const st = await c.settle(c.get('h1').peer.status('p'))
    expect(line(st, 'vm2')).toBe('failed: domain died')
    expect(line(st, 'vm3')).toBe('running')
    expect(line(st, 'a:da')).toBe('running')
    expect(st.components.filter(x => x.path === 'vm2')).toHaveLength(1)

    // `sdpeer terminate p:vm3` (a part's root) from another peer: its record goes up, the parent still runs on.
    await c.settle(c.get('h1').peer.terminateComponent('p', 'vm3', 'normal', 'not needed any more'))
    await c.runFor(100)
    expect(c.get('entry').peer.ls()[0].state).toBe('running')
    const st2 = await c.settle(c.get('h2').peer.status('p'))
    expect(line(st2, 'vm3')).toBe('terminated: not needed any more')
    expect(line(st2, '')).toBe('running')

    // The pool still terminates whole, and leaves nothing.
    await c.settle(c.get('entry').peer.terminate('p'))
    expect(c.leftovers()).toEqual({ components: 0, reservations: 0, claims: 0 })
  })

  it('sfSyncTerminate true: the whole pool ends with the child\'s record', async () => {
    const c = new DeployCluster({ hosts, seed: 12, timings: { requestTimeoutMs: 500 } })
    await c.settle(c.get('entry').peer.deploy('p', pinnedPool({ sfSyncTerminate: true })))
    await c.settle(c.get('h1').peer.terminateComponent('p', 'vm2', 'normal', 'vm2 is done'))
    await c.runFor(2000)
    for (const p of c.peers) expect(p.peer.ls()[0], p.host).toMatchObject({ state: 'terminated', reason: 'normal: vm2 is done (at vm2)' })
    expect(c.leftovers()).toEqual({ components: 0, reservations: 0, claims: 0 })
  })

  it('the component holding the child decides, not the part\'s root', async () => {
    // The root syncs, but the child's holder is a compound of the root's part that does not: nothing else ends.
    const c = new DeployCluster({ hosts, seed: 13, timings: { requestTimeoutMs: 500 } })
    const config = pool({ group: { sfClass: 'org.smartfrog.sfcore.compound.CompoundImpl', sfSyncTerminate: false, vm2: vm('h2', 'v2', '10.0.0.2') } }, { sfLivenessDelay: 1 })
    await c.settle(c.get('entry').peer.deploy('p', config))
    c.get('h2').engine.crash('p', 'group:vm2', 'group:vm2')
    await c.runFor(3000)
    expect(c.get('entry').peer.ls()[0].state).toBe('running')
    expect(c.get('entry').engine.live('p').map(x => x.path)).toEqual(['', 'group'])
    expect(line(await c.settle(c.get('entry').peer.status('p')), 'group:vm2')).toBe('failed: domain died')
  })
})

describe('a pinned VM whose host died', () => {
  it('sfSyncTerminate false: reported failed with its host and peer; the rest of the pool runs on', async () => {
    const c = new DeployCluster({ hosts, seed: 14, detectionMs: 1000, timings: { requestTimeoutMs: 500 } })
    await c.settle(c.get('entry').peer.deploy('p', pinnedPool({ sfSyncTerminate: false })))
    c.kill('h3')
    await c.runFor(4000)
    const pings = countPings(c)
    await c.runFor(3000)
    expect(pings.get('vm3')).toBeUndefined()
    expect(c.get('entry').peer.ls()[0].state).toBe('running')
    const st = await c.settle(c.get('h2').peer.status('p'))
    expect(line(st, 'vm3')).toBe('failed: host h3 lost (peer peer-h3)')
    expect(st.components.find(x => x.path === 'vm3')?.host).toBe('h3')
    expect(st.unreachable).toEqual(['peer-h3'])
    expect(['', 'a', 'a:da', 'vm2'].map(p => line(st, p))).toEqual(['running', 'running', 'running', 'running'])
  })

  it('sfSyncTerminate true: the pool ends with that reason', async () => {
    const c = new DeployCluster({ hosts, seed: 15, detectionMs: 1000, timings: { requestTimeoutMs: 500 } })
    await c.settle(c.get('entry').peer.deploy('p', pinnedPool({ sfSyncTerminate: true })))
    c.kill('h3')
    await c.runFor(5000)
    expect(c.get('entry').peer.ls()[0]).toMatchObject({ state: 'terminated', reason: 'abnormal: host h3 lost (peer peer-h3) (at vm3)' })
    for (const h of ['entry', 'h1', 'h2']) expect(c.get(h).engine.live(), h).toEqual([])
  })

  it('marked failed by the pool\'s coordinator: decided at the next ping, without waiting for sfLivenessFactor misses', async () => {
    const c = new DeployCluster({ hosts, seed: 16, detectionMs: 60_000, timings: { requestTimeoutMs: 500 } })
    await c.settle(c.get('entry').peer.deploy('p', pinnedPool({ sfSyncTerminate: true, sfLivenessFactor: 10 })))
    c.kill('h3')
    await c.runFor(1200)
    // What LiveReplacement writes for a pinned VM on a dead host (PinnedVmLostError), replicated to the parent's peer.
    const entry = c.get('entry').peer
    const r = entry.registry.get('p')!
    entry.registry.merge({ ...r, version: r.version + 1, parts: r.parts.map(x => x.path === 'vm3' ? { ...x, placement: 'failed' as const, reason: 'pinned, host dead' } : x) })
    await c.runFor(1500)
    expect(entry.ls()[0]).toMatchObject({ state: 'terminated', reason: 'abnormal: host h3 lost (peer peer-h3) (at vm3)' })
  })
})
