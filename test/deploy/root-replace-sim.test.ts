import { describe, expect, it } from 'vitest'
import { DeployCluster } from '../../simulations/deploy/cluster.ts'
import { LiveReplacement } from '../../node/deploy/replacement.ts'
import { orphanDecision } from '../../node/deploy/orphans.ts'
import { replacementId } from '../../node/deploy/replace-parts.ts'
import type { OrphanDecision } from '../../node/deploy/types.ts'
import { hrwOrder } from '../../node/scheduler/coordinator.ts'
import type { MeshHostView } from '../../node/scheduler/assign.ts'
import { computer, pool } from './fixtures.ts'

// The pool outlives the host of its root, even when that host was the pool's coordinator too: the next coordinator
// deploys the root again on itself at epoch 2 from the replicated record, the three computers (parts of their own,
// on live hosts) follow their new parent, and the pool is still terminable from any peer. A root that no live
// participant can take ends the pool with the reason. Deploy peers and fake engines on a virtual clock, with every
// peer's re-placement duty (node/deploy/replacement.ts) running as in the daemon.

const HOSTS = ['entry', 'h1', 'h2', 'h3']
const DETECTION_MS = 1000

/** A pool name whose coordinator (first in HRW order among every peer) is the entry peer, which holds the root. */
function poolWhoseCoordinatorIsTheRoot (): string {
  const peers = HOSTS.map(h => `peer-${h}`)
  for (let n = 0; ; n++) if (hrwOrder(`p${n}`, peers)[0] === 'peer-entry') return `p${n}`
}

interface Mesh { c: DeployCluster, kill: (host: string) => void, decisions: Array<{ path: string, decision: OrphanDecision }>, stopDuties: () => void }

function mesh (o: { capacity?: { memoryMiB: number, vcpus: number }, detectionMs?: number } = {}): Mesh {
  const detectionMs = o.detectionMs ?? DETECTION_MS
  const killedAt = new Map<string, number>()
  const isLive = (p: string): boolean => { const t = killedAt.get(p); return t === undefined || c.clock.now() < t + detectionMs }
  const decisions: Mesh['decisions'] = []
  const c: DeployCluster = new DeployCluster({
    hosts: HOSTS.map(name => ({ name, ...(o.capacity !== undefined && name !== 'entry' ? { capacity: o.capacity } : {}) })),
    seed: 11,
    detectionMs,
    timings: { requestTimeoutMs: 500 },
    log: true,
    // Every replica of the record is the same: any live peer's answers as the coordinator's would.
    orphanPolicy: async r => {
      const decision = orphanDecision(c.peers.find(p => isLive(p.id))!.peer.registry.get(r.pool), r, isLive)
      decisions.push({ path: r.path, decision })
      return decision
    }
  })
  // Only the host names matter here (no VM is scheduled): the mesh directory's other fields are left out.
  const directory = c.peers.map(p => ({ peerId: p.id, hostNames: [p.host] })) as unknown as MeshHostView[]
  const duties = c.peers.map(p => {
    const d = new LiveReplacement({ peer: p.peer, clock: c.clock, isLive, members: () => c.peers.map(x => x.id).filter(isLive), hosts: () => directory, log: (m, x) => { c.logs.push(`${c.clock.now()} ${p.host} ${m} ${JSON.stringify(x)}`) }, sweepMs: 500 })
    d.start()
    return { host: p.host, d }
  })
  const kill = (host: string): void => {
    killedAt.set(c.get(host).id, c.clock.now())
    duties.find(x => x.host === host)!.d.stop()
    c.kill(host)
  }
  return { c, kill, decisions, stopDuties: () => { for (const x of duties) x.d.stop() } }
}

const computers = (extra = {}): ReturnType<typeof pool> => pool({
  a: computer('h1', [{ name: 'da', ip: '10.0.0.1' }]),
  b: computer('h2', [{ name: 'db', ip: '10.0.0.2' }]),
  c: computer('h3', [{ name: 'dc', ip: '10.0.0.3' }])
}, { local: { sfClass: 'org.smartfrog.services.management.DeployManagementImpl' }, sfLivenessDelay: 1, ...extra })

describe('re-placing the root part of a pool', () => {
  it('the root\'s host (the coordinator too) dies: the root runs again on the next coordinator, its children follow', async () => {
    const name = poolWhoseCoordinatorIsTheRoot()
    const { c, kill } = mesh()
    await c.settle(c.get('entry').peer.deploy(name, computers()))
    expect(c.get('h1').peer.registry.get(name)?.partPlans?.map(p => p.path)).toEqual(['', 'a', 'b', 'c'])
    await c.runFor(1500)
    kill('entry')
    await c.runFor(10_000)

    const next = hrwOrder(name, c.peers.map(p => p.id)).filter(p => p !== 'peer-entry')[0]!
    const newHost = c.peers.find(p => p.id === next)!.host
    for (const h of ['h1', 'h2', 'h3']) {
      const r = c.get(h).peer.registry.get(name)!
      expect(r.state, h).toBe('running')
      expect(r.parts.find(p => p.path === ''), h).toMatchObject({ peer: next, host: newHost, epoch: 2, placement: 'running' })
    }
    // The root's own components (the compound and `local`) run on its new host; each computer runs on (three
    // components), under its new parent.
    expect(c.get(newHost).engine.live(name).map(x => x.path)).toContain('local')
    for (const [h, path] of [['h1', 'a'], ['h2', 'b'], ['h3', 'c']] as const) {
      expect(c.get(h).engine.live(name).length, h).toBe(h === newHost ? 3 + 2 : 3)
      expect(c.get(h).peer.participant.lifecycle.get(name, path)?.plan.parentPeer, h).toBe(next)
    }
    // A while later the new root's pings keep them: nobody was terminated as an orphan.
    await c.runFor(10_000)
    for (const h of ['h1', 'h2', 'h3']) expect(c.get(h).engine.live(name).length, h).toBe(h === newHost ? 3 + 2 : 3)
    const st = await c.settle(c.get('h2').peer.status(name))
    expect(st.state).toBe('running')
    expect(st.unreachable).toEqual([])

    // Terminated from a peer that is not the new root's.
    const from = ['h1', 'h2', 'h3'].find(h => h !== newHost)!
    const out = await c.settle(c.get(from).peer.terminate(name))
    expect(out.unreachable).toEqual([])
    for (const h of ['h1', 'h2', 'h3']) {
      expect(c.get(h).engine.live(name), h).toEqual([])
      expect(c.get(h).peer.registry.get(name)?.state, h).toBe('terminated')
    }
  })

  it('children that miss their parent before its death is declared are told to wait, then to follow the new root', async () => {
    const name = poolWhoseCoordinatorIsTheRoot()
    // Detection slower than the children's patience (sfLivenessFactor 2 of 1 s): they report first.
    const { c, kill, decisions } = mesh({ detectionMs: 6000 })
    await c.settle(c.get('entry').peer.deploy(name, computers()))
    await c.runFor(1500)
    kill('entry')
    await c.runFor(5000)
    expect(decisions.length).toBeGreaterThanOrEqual(3)
    expect(new Set(decisions.map(d => d.decision))).toEqual(new Set(['wait']))
    await c.runFor(10_000)
    const next = hrwOrder(name, c.peers.map(p => p.id)).filter(p => p !== 'peer-entry')[0]!
    for (const [h, path] of [['h1', 'a'], ['h2', 'b'], ['h3', 'c']] as const) {
      expect(c.get(h).peer.participant.lifecycle.get(name, path)?.plan.parentPeer, h).toBe(next)
      expect(c.get(h).engine.live(name).length, h).toBeGreaterThanOrEqual(3)
    }
    expect(decisions.some(d => d.decision === 'terminate')).toBe(false)
  })

  it('a re-placement prepared before the pool\'s terminate is not committed after it', async () => {
    const name = poolWhoseCoordinatorIsTheRoot()
    const { c, kill, stopDuties } = mesh()
    await c.settle(c.get('entry').peer.deploy(name, computers()))
    stopDuties()
    kill('entry')
    await c.runFor(1500)
    const h1 = c.get('h1').peer
    const r = h1.registry.get(name)!
    const root = r.partPlans!.find(p => p.path === '')!.plan
    const deployId = replacementId(name, '', 2)
    const prep = await c.settle(h1.handle('peer-h2', { type: 'prepare', deployId, pool: name, coordinator: 'peer-h2', parts: [{ ...root, host: 'h1', peer: 'peer-h1' }], participants: r.participants!, leaseMs: 30_000, replace: { epoch: 2 } }))
    expect(prep).toEqual({ type: 'prepared', ok: true })
    h1.registry.merge({ ...r, state: 'terminating', version: r.version + 1 })
    const commit = await c.settle(h1.handle('peer-h2', { type: 'commit', deployId, pool: name }))
    expect(commit).toMatchObject({ type: 'committed', ok: false, reason: expect.stringContaining('is terminating') })
    expect(c.get('h1').engine.live(name).map(x => x.path)).not.toContain('local')
    expect(c.get('h1').engine.reservations).toBe(0)
  })

  it('a root no live participant can take ends the pool with the reason, and its children with it', async () => {
    const name = poolWhoseCoordinatorIsTheRoot()
    const { c, kill } = mesh({ capacity: { memoryMiB: 2048, vcpus: 16 } })
    // The root holds a VM of its own (no sfProcessHost) bigger than any other host.
    await c.settle(c.get('entry').peer.deploy(name, computers({ console: { sfClass: 'ch.cern.openlab.smartdomains.XenDomainImpl', domainName: 'console', ip: '10.0.0.9', memory: 4096, vcpus: 1 } })))
    await c.runFor(1500)
    kill('entry')
    await c.runFor(10_000)
    for (const h of ['h1', 'h2', 'h3']) {
      const r = c.get(h).peer.registry.get(name)!
      expect(r.state, h).toBe('failed')
      expect(r.reason, h).toMatch(/^part \(root\) lost with its host entry and no live participant took it: .*no capacity on h\d/)
      expect(c.get(h).engine.live(name), h).toEqual([])
    }
  })
})
