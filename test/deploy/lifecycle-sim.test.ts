import { describe, expect, it } from 'vitest'
import { DeployCluster } from '../../simulations/deploy/cluster.ts'
import type { OrphanReport } from '../../node/deploy/types.ts'
import { computer, pool } from './fixtures.ts'

// Cross-peer lifecycle: termination records up the tree, liveness both ways, orphans reported to the coordinator.

const hosts = [{ name: 'entry' }, { name: 'h1' }, { name: 'h2' }, { name: 'h3' }]

function threeComputers (extra = {}): ReturnType<typeof pool> {
  return pool({
    a: computer('h1', [{ name: 'da', ip: '10.0.0.1' }]),
    b: computer('h2', [{ name: 'db', ip: '10.0.0.2' }]),
    c: computer('h3', [{ name: 'dc', ip: '10.0.0.3' }])
  }, { local: { sfClass: 'org.smartfrog.services.management.DeployManagementImpl' }, ...extra })
}

describe('cross-peer lifecycle', () => {
  it('a remote termination record takes the parent compound down (sfSyncTerminate: siblings one by one, reverse order)', async () => {
    const c = new DeployCluster({ hosts, seed: 3, jitterMs: 3 })
    await c.settle(c.get('entry').peer.deploy('p', threeComputers()))
    c.journal.length = 0
    c.get('h2').engine.crash('p', 'b:db', 'b')
    await c.runFor(5000)
    const stops = c.journal.filter(l => l.includes(' stop '))
    const firstOf = (s: string): number => stops.findIndex(l => l.includes(s))
    const lastOf = (s: string): number => stops.findLastIndex(l => l.includes(s))
    // b died first; then c (defined last) entirely before a; then the root's own components.
    expect(lastOf('p:b')).toBeLessThan(firstOf('p:c'))
    expect(lastOf('p:c')).toBeLessThan(firstOf('p:a'))
    expect(lastOf('p:a')).toBeLessThan(firstOf('p:local'))
    expect(stops.at(-1)).toBe('entry stop p: abnormal')
    expect(c.leftovers()).toEqual({ components: 0, reservations: 0, claims: 0 })
    for (const p of c.peers) expect(p.peer.ls()[0]).toMatchObject({ state: 'terminated', reason: 'abnormal: domain died (at b:db)' })
    const st = await c.settle(c.get('h3').peer.status('p'))
    expect(st.termination).toEqual({ type: 'abnormal', reason: 'domain died', path: 'b:db' })
    expect(st.components.every(x => x.state === 'terminated')).toBe(true)
  })

  it('without sfSyncTerminate the siblings are terminated at once', async () => {
    const c = new DeployCluster({ hosts, seed: 3, timings: {} })
    await c.settle(c.get('entry').peer.deploy('p', threeComputers({ sfSyncTerminate: false })))
    c.journal.length = 0
    // Make h3's termination slow by pausing its peer: a sync parent would wait for it before touching a.
    c.net.pause(c.get('h3').id)
    // The root's own part ends (a child's end would not take a parent without sfSyncTerminate down).
    c.get('entry').engine.crash('p', 'local', '')
    await c.runFor(50)
    expect(c.journal.some(l => l.startsWith('h1 stop p:a'))).toBe(true)
    c.net.resume(c.get('h3').id)
    await c.runFor(5000)
    expect(c.leftovers().components).toBe(0)
  })

  it('a remote child that stops answering fails the parent\'s liveness: the pool terminates abnormally (sfSyncTerminate)', async () => {
    const c = new DeployCluster({ hosts, seed: 5, timings: { requestTimeoutMs: 500 } })
    // A VM pinned on h3 (a compound part would be re-placed by the pool's coordinator instead: its silence is not
    // its parent's business). h3 hangs without the mesh declaring it dead (see child-termination-sim for a death).
    const pinned = { sfClass: 'ch.cern.openlab.smartdomains.XenDomainImpl', sfProcessHost: 'h3', domainName: 'dc', ip: '10.0.0.3', memory: 512, vcpus: 1 }
    await c.settle(c.get('entry').peer.deploy('p', { ...threeComputers({ sfLivenessDelay: 1 }), c: pinned }))
    c.net.pause(c.get('h3').id)
    await c.runFor(1500)
    expect(c.get('entry').peer.ls()[0].state).toBe('running')
    await c.runFor(3000)
    const r = c.get('entry').peer.ls()[0]
    expect(r.state).toBe('terminated')
    expect(r.reason).toMatch(/^abnormal: liveness: remote child on h3 .* not answering \(at c\)$/)
    expect(c.get('h1').engine.live()).toEqual([])
    expect(c.get('h2').engine.live()).toEqual([])
    expect(c.get('entry').engine.live()).toEqual([])
  })

  it('children whose parent\'s host died report to the pool coordinator, whose policy decides (keep)', async () => {
    const reports: Array<OrphanReport & { at: string }> = []
    let c: DeployCluster | undefined
    c = new DeployCluster({
      hosts,
      seed: 9,
      detectionMs: 1000,
      timings: { requestTimeoutMs: 500 },
      orphanPolicy: async (r) => { reports.push({ ...r, at: 'policy' }); return 'keep' }
    })
    await c.settle(c.get('entry').peer.deploy('p', threeComputers({ sfLivenessDelay: 1 })))
    await c.runFor(1500) // the parent's pings have begun
    c.kill('entry')
    // Reports come once more than sfLivenessFactor (2) pings were missed: not before 2 s after the kill.
    await c.runFor(1500)
    expect(reports).toEqual([])
    await c.runFor(4000)
    expect(reports.map(r => [r.path, r.peer, r.parentPeer]).sort()).toEqual([
      ['a', 'peer-h1', 'peer-entry'], ['b', 'peer-h2', 'peer-entry'], ['c', 'peer-h3', 'peer-entry']
    ])
    // Kept: they run on, waiting for the scheduler to re-parent them, and are not reported again.
    await c.runFor(10_000)
    expect(reports).toHaveLength(3)
    expect(c.get('h1').engine.live('p').length).toBeGreaterThan(0)
    c = undefined
  })

  it('a child whose parent never pinged waits as long as a commit may take before reporting', async () => {
    const reports: OrphanReport[] = []
    const c = new DeployCluster({ hosts, seed: 9, detectionMs: 1000, timings: { requestTimeoutMs: 500, commitTimeoutMs: 30_000 }, orphanPolicy: async (r) => { reports.push(r); return 'keep' } })
    await c.settle(c.get('entry').peer.deploy('p', threeComputers({ sfLivenessDelay: 1 })))
    c.kill('entry')
    await c.runFor(20_000)
    expect(reports).toEqual([])
    await c.runFor(15_000)
    expect(reports).toHaveLength(3)
  })

  it('the default policy terminates an orphan (SmartFrog\'s answer), with nothing reported upwards', async () => {
    const c = new DeployCluster({ hosts, seed: 9, detectionMs: 1000, timings: { requestTimeoutMs: 500 } })
    await c.settle(c.get('entry').peer.deploy('p', threeComputers({ sfLivenessDelay: 1 })))
    await c.runFor(1500) // the parent's pings have begun
    c.kill('entry')
    await c.runFor(6000)
    for (const h of ['h1', 'h2', 'h3']) expect(c.get(h).engine.live(), h).toEqual([])
    expect(c.journal.filter(l => l.startsWith('h1 stop')).every(l => l.endsWith('abnormal'))).toBe(true)
  })
})
