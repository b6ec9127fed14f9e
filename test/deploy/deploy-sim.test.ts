import { describe, expect, it } from 'vitest'
import { DeployCluster } from '../../simulations/deploy/cluster.ts'
import { DeployFailedError } from '../../node/deploy/errors.ts'
import type { PeerFailure } from '../../node/deploy/errors.ts'
import { computer, distVirtualPool, pool } from './fixtures.ts'

const M9 = 'machine9.cern.ch'
const M10 = 'machine10.cern.ch'
const ENTRY = 'entry.cern.ch'

function cluster (o: Partial<ConstructorParameters<typeof DeployCluster>[0]> = {}): DeployCluster {
  return new DeployCluster({ hosts: [{ name: ENTRY }, { name: M9 }, { name: M10 }], seed: 7, ...o })
}

async function outcome<T> (c: DeployCluster, p: Promise<T>): Promise<{ ok: true, value: T } | { ok: false, error: Error }> {
  try { return { ok: true, value: await c.settle(p) } } catch (error) { return { ok: false, error: error as Error } }
}

function failuresOf (r: { ok: boolean, error?: unknown }): PeerFailure[] {
  if (r.ok || !(r.error instanceof DeployFailedError)) throw new Error('expected a DeployFailedError')
  return r.error.failures
}

describe('distributed deploy (in-memory mesh, virtual clock)', () => {
  it('deploys distVirtualPool from a third peer: each computer on its host, running from every peer, terminated from another', async () => {
    const c = cluster({ hosts: [{ name: ENTRY }, { name: M9, knobs: { storageMs: 300, domainMs: 700 } }, { name: M10, knobs: { storageMs: 300, domainMs: 700 } }] })
    const res = await c.settle(c.get(ENTRY).peer.deploy('dist', distVirtualPool()))
    const where = Object.fromEntries(res.components.map(x => [x.path, x.host]))
    expect(where['computer1:domain1']).toBe(M9)
    expect(where['computer1:loop']).toBe(M9)
    expect(where['computer2:domain2']).toBe(M10)
    expect(where.console).toBe(ENTRY)
    expect(res.components.every(x => x.state === 'running')).toBe(true)
    // Storage first, then the domain, on each host.
    const a9 = c.get(M9).engine.actions
    expect(a9.indexOf('start dist:computer1:loop')).toBeLessThan(a9.indexOf('start dist:computer1:domain1'))
    expect(a9.indexOf('start dist:computer1:lvm')).toBeLessThan(a9.indexOf('start dist:computer1:domain2'))

    for (const p of c.peers) {
      const st = await c.settle(p.peer.status('dist'))
      expect(st.state, p.host).toBe('running')
      expect(st.unreachable).toEqual([])
      expect(st.components.map(x => x.path)).toEqual(res.components.map(x => x.path))
      expect(st.components.every(x => x.state === 'running')).toBe(true)
      expect(p.peer.ls().map(r => [r.pool, r.entry, r.state])).toEqual([['dist', c.get(ENTRY).id, 'running']])
    }
    await expect(c.get(M9).peer.deploy('dist', distVirtualPool())).rejects.toMatchObject({ name: 'PoolExistsError' })

    const t = await c.settle(c.get(M10).peer.terminate('dist'))
    expect(t.unreachable).toEqual([])
    expect(c.leftovers()).toEqual({ components: 0, reservations: 0, claims: 0 })
    for (const p of c.peers) expect(p.peer.ls()[0].state).toBe('terminated')
    // Children before the parent: both computers were down before the root's console.
    const j = c.journal.filter(l => l.includes(' stop '))
    expect(j.findIndex(l => l.includes('dist:console'))).toBe(j.length - 2)
    expect(j.at(-1)).toContain('stop dist: normal')
    // sfSyncTerminate on the root: computer2 (defined last) went down entirely before computer1.
    const last2 = j.findLastIndex(l => l.includes('dist:computer2'))
    const first1 = j.findIndex(l => l.includes('dist:computer1'))
    expect(last2).toBeLessThan(first1)
  })

  it('an unknown host fails before any peer is contacted', async () => {
    const c = cluster()
    const config = pool({ a: computer(M9, [{ name: 'd1', ip: '10.0.0.1' }]), b: computer('machine99.cern.ch', [{ name: 'd2', ip: '10.0.0.2' }]) })
    const r = await outcome(c, c.get(ENTRY).peer.deploy('p', config))
    expect(r.ok).toBe(false)
    expect(!r.ok && r.error).toMatchObject({ name: 'UnknownHostError', attrPath: 'b:sfProcessHost', host: 'machine99.cern.ch' })
    expect([...c.net.sent.values()].reduce((a, b) => a + b, 0)).toBe(0)
    expect(c.leftovers()).toEqual({ components: 0, reservations: 0, claims: 0 })
  })

  it('a second host that refuses (no capacity) leaves nothing anywhere', async () => {
    const c = cluster({ hosts: [{ name: ENTRY }, { name: M9 }, { name: M10, capacity: { memoryMiB: 1024, vcpus: 8 } }] })
    const config = pool({ a: computer(M9, [{ name: 'd1', ip: '10.0.0.1' }]), b: computer(M10, [{ name: 'd2', ip: '10.0.0.2', memory: 4096 }]) })
    const r = await outcome(c, c.get(ENTRY).peer.deploy('p', config))
    expect(!r.ok && r.error).toMatchObject({ name: 'DeployFailedError' })
    const failures = failuresOf(r)
    expect(failures).toEqual([expect.objectContaining({ host: M10, kind: 'refused', reason: expect.stringContaining('needs 4096 MiB, 1024 MiB free') })])
    await c.runFor(1000)
    // machine9 had prepared (reserved, claimed): all given back.
    expect(c.get(M9).engine.actions).toEqual([expect.stringMatching(/^reserve p /), expect.stringMatching(/^release /)])
    expect(c.leftovers()).toEqual({ components: 0, reservations: 0, claims: 0 })
    expect(c.get(M9).peer.ls()[0]).toMatchObject({ pool: 'p', state: 'failed' })
    // The name is free again: a pool that fits deploys.
    const ok = await c.settle(c.get(ENTRY).peer.deploy('p', pool({ a: computer(M9, [{ name: 'd1', ip: '10.0.0.1' }]) })))
    expect(ok.components.filter(x => x.type === 'XenDomain')).toHaveLength(1)
  })

  it('an owner that crashes between prepare and commit: abort everywhere, what was deployed is undone', async () => {
    const c = cluster({ timings: { requestTimeoutMs: 500, attempts: 2, commitTimeoutMs: 2000 } })
    c.net.beforeDeliver = (_from, to, req) => { if (req.type === 'commit' && to === c.get(M10).id) c.kill(M10) }
    const config = pool({ a: computer(M9, [{ name: 'd1', ip: '10.0.0.1' }]), b: computer(M10, [{ name: 'd2', ip: '10.0.0.2' }]) })
    const r = await outcome(c, c.get(ENTRY).peer.deploy('p', config))
    expect(!r.ok && r.error).toMatchObject({ name: 'DeployFailedError' })
    expect(failuresOf(r)).toEqual([expect.objectContaining({ host: M10, phase: 'commit', kind: 'timeout' })])
    await c.runFor(10_000)
    // machine9 had committed: its components were started, then stopped by the abort.
    expect(c.get(M9).engine.actions.some(a => a.startsWith('start p:a:d1'))).toBe(true)
    expect(c.get(M9).engine.live()).toEqual([])
    expect(c.get(ENTRY).engine.live()).toEqual([])
    expect(c.get(M9).engine.reservations + c.get(ENTRY).engine.reservations).toBe(0)
    expect(c.get(ENTRY).peer.ls()[0].state).toBe('failed')
  })

  it('an owner that prepared and never hears commit or abort releases its reservation after the lease', async () => {
    const c = cluster({ timings: { requestTimeoutMs: 500, attempts: 2, prepareLeaseMs: 5000, commitTimeoutMs: 3000 } })
    const ids = c.peers.map(p => p.id)
    c.net.beforeDeliver = (_from, to, req) => {
      if (req.type === 'commit' && to === c.get(M10).id) c.net.partition([ids.filter(i => i !== to), [to]])
    }
    const config = pool({ a: computer(M9, [{ name: 'd1', ip: '10.0.0.1' }]), b: computer(M10, [{ name: 'd2', ip: '10.0.0.2' }]) })
    const deploy = c.get(ENTRY).peer.deploy('p', config)
    deploy.catch(() => {})
    await c.runFor(1000)
    // Prepared, cut off: still holding its reservation (and the claim holders their claims).
    expect(c.get(M10).engine.reservations).toBe(1)
    expect(c.get(M10).peer.participant.stage(c.get(ENTRY).peer.ls()[0].deployId)).toBe('prepared')
    await c.runFor(4500)
    expect(c.get(M10).engine.reservations).toBe(0)
    expect(c.get(M10).peer.participant.stage(c.get(ENTRY).peer.ls()[0].deployId)).toBe('aborted')
    const r = await outcome(c, deploy)
    expect(!r.ok && r.error).toMatchObject({ name: 'DeployFailedError' })
    c.net.heal()
    await c.runFor(1000)
    expect(c.get(M10).engine.actions).toEqual([expect.stringMatching(/^reserve/), expect.stringMatching(/^release/)])
    expect(c.leftovers().components + c.leftovers().reservations).toBe(0)
  })

  it('two pools claiming the same domain name at the same moment: exactly one wins (10 seeds)', async () => {
    for (let seed = 1; seed <= 10; seed++) {
      const c = new DeployCluster({ seed, jitterMs: 2, hosts: [{ name: 'h1' }, { name: 'h2' }, { name: 'h3' }, { name: 'h4' }, { name: 'h5' }] })
      const a = c.get('h1').peer.deploy('alpha', pool({ x: computer('h2', [{ name: 'web', ip: '10.0.0.1' }]) }))
      const b = c.get('h5').peer.deploy('beta', pool({ y: computer('h4', [{ name: 'web', ip: '10.0.0.2' }]) }))
      const [ra, rb] = await Promise.all([outcome(c, a), outcome(c, b)])
      const winners = [ra, rb].filter(r => r.ok)
      expect(winners, `seed ${seed}`).toHaveLength(1)
      const loser = (ra.ok ? rb : ra) as { error: Error }
      expect(loser.error.name).toBe('DeployFailedError')
      expect(loser.error.message).toMatch(/ClaimConflictError: (alpha|beta): domain name "web" is already used by pool "(alpha|beta)"/)
      await c.runFor(1000)
      expect(c.leftovers()).toMatchObject({ reservations: 0 })
      expect(c.peers.reduce((n, p) => n + p.engine.live().filter(x => x.type === 'XenDomain').length, 0)).toBe(1)
    }
  })

  it('one pool name deployed from two peers at the same moment: exactly one deploy wins (10 seeds)', async () => {
    for (let seed = 1; seed <= 10; seed++) {
      const c = new DeployCluster({ seed, jitterMs: 2, hosts: [{ name: 'h1' }, { name: 'h2' }, { name: 'h3' }, { name: 'h4' }, { name: 'h5' }] })
      const a = c.get('h1').peer.deploy('same', pool({ x: computer('h2', [{ name: 'web1', ip: '10.0.0.1' }]) }))
      const b = c.get('h5').peer.deploy('same', pool({ y: computer('h4', [{ name: 'web2', ip: '10.0.0.2' }]) }))
      const [ra, rb] = await Promise.all([outcome(c, a), outcome(c, b)])
      expect([ra, rb].filter(r => r.ok), `seed ${seed}`).toHaveLength(1)
      const loser = (ra.ok ? rb : ra) as { error: Error }
      expect(loser.error.message).toMatch(/same: the pool name is being deployed from another peer at the same time \(deploy same\./)
      await c.runFor(1000)
      expect(c.leftovers().reservations).toBe(0)
      expect(c.peers.reduce((n, p) => n + p.engine.live().filter(x => x.type === 'XenDomain').length, 0)).toBe(1)
      for (const p of c.peers) expect(p.peer.ls().map(r => r.state)).toEqual(['running'])
    }
  })

  it('a name used by a running pool is refused later, naming both pools; freed once it is terminated', async () => {
    const c = cluster()
    await c.settle(c.get(ENTRY).peer.deploy('alpha', pool({ x: computer(M9, [{ name: 'web', ip: '10.0.0.1' }]) })))
    const r = await outcome(c, c.get(M10).peer.deploy('beta', pool({ y: computer(M10, [{ name: 'other', ip: '10.0.0.1' }]) })))
    expect(!r.ok && r.error.message).toMatch(/beta: address "10.0.0.1" is already used by pool "alpha"/)
    await c.settle(c.get(M9).peer.terminate('alpha'))
    await c.settle(c.get(M10).peer.deploy('beta', pool({ y: computer(M10, [{ name: 'other', ip: '10.0.0.1' }]) })))
    expect(c.get(ENTRY).peer.ls().map(p => [p.pool, p.state])).toEqual([['alpha', 'terminated'], ['beta', 'running']])
  })

  it('survives 10% loss and duplicated messages: one copy of everything, same result', async () => {
    const c = cluster({ loss: 0.1, duplicate: 0.3, timings: { requestTimeoutMs: 200, attempts: 6 } })
    const res = await c.settle(c.get(ENTRY).peer.deploy('dist', distVirtualPool()))
    expect(res.components.filter(x => x.type === 'XenDomain')).toHaveLength(3)
    const starts = c.journal.filter(l => l.includes(' start '))
    expect(new Set(starts).size).toBe(starts.length)
    expect(c.leftovers().reservations).toBe(0)
  })

  it('long hypervisor times: commit is long-polled, no request outlives the request timeout', async () => {
    const slow = { storageMs: 4000, domainMs: 20_000 }
    const c = cluster({ hosts: [{ name: ENTRY }, { name: M9, knobs: slow }, { name: M10, knobs: slow }], timings: { requestTimeoutMs: 1000, longPollMs: 5000 } })
    const deploying = c.get(ENTRY).peer.deploy('dist', distVirtualPool())
    await c.runFor(10_000)
    // A terminate while the deploy is in its phases is refused, from any peer that knows the pool.
    await expect(c.get(M9).peer.terminate('dist')).rejects.toMatchObject({ name: 'PoolBusyError' })
    const res = await c.settle(deploying)
    // machine9 boots two domains one after the other: 2 x (4 s + 20 s) of hypervisor time.
    expect(res.elapsedMs).toBeGreaterThan(48_000)
    expect(res.elapsedMs).toBeLessThan(55_000)
    expect(c.net.sent.get('commit')).toBeGreaterThan(10)
    expect(res.components.every(x => x.state === 'running')).toBe(true)
  })

  it('get, set and resolve are routed to the owner of the path from any peer', async () => {
    const c = cluster()
    await c.settle(c.get(ENTRY).peer.deploy('dist', distVirtualPool()))
    expect(await c.settle(c.get(M9).peer.get('dist', 'computer2:domain2', 'ip'))).toBe('999.999.999.997')
    await c.settle(c.get(ENTRY).peer.set('dist', 'computer2:domain2', 'memory', 1024))
    expect(await c.settle(c.get(M9).peer.resolve('dist', 'computer2:domain2', 'memory'))).toBe(1024)
    expect(c.get(M10).engine.actions).toContain('set dist:computer2:domain2 memory')
    const r = await outcome(c, c.get(M9).peer.get('dist', 'computer2:nothing', 'ip'))
    expect(!r.ok && r.error).toMatchObject({ name: 'DeployTransportError', code: 'remote-error' })
  })

  it('a peer that joins later learns every pool from one peer (registry sync)', async () => {
    const c = cluster({ hosts: [{ name: ENTRY }, { name: M9 }, { name: M10 }, { name: 'late' }] })
    const ids = c.peers.map(p => p.id)
    const late = c.get('late')
    c.net.partition([ids.filter(i => i !== late.id), [late.id]])
    await c.settle(c.get(ENTRY).peer.deploy('dist', distVirtualPool()))
    c.net.heal()
    expect(late.peer.ls()).toEqual([])
    await expect(c.settle(late.peer.status('dist'))).rejects.toMatchObject({ name: 'PoolNotFoundError' })
    expect(await c.settle(late.peer.registry.syncFrom(c.get(M9).id))).toBe(1)
    expect(late.peer.ls()).toEqual([expect.objectContaining({ pool: 'dist', state: 'running', entry: c.get(ENTRY).id })])
    const st = await c.settle(late.peer.status('dist'))
    // root, console, computer1 (+ shell, 2 volumes, 2 domains), computer2 (+ shell, volume, domain)
    expect(st.components.filter(x => x.state === 'running')).toHaveLength(12)
  })
})
