import { describe, expect, it } from 'vitest'
import { DeployCluster } from '../../simulations/deploy/cluster.ts'
import { validateDeployRequest } from '../../node/deploy/wire.ts'
import type { DeployTimings } from '../../node/deploy/types.ts'
import { computer, pool } from './fixtures.ts'

// status, get and terminate of a pool one of whose owners died, on the virtual clock with the default timings
// (3 s per request, 3 attempts): an owner the membership declared dead is not asked (its parts are listed lost, a
// get naming it fails at once, terminate skips it); an owner merely silent costs one request timeout, not three; a
// request in flight stops waiting once its owner is declared dead or the record moves its part elsewhere.

const T: DeployTimings = { requestTimeoutMs: 3000, attempts: 3, prepareLeaseMs: 30_000, commitTimeoutMs: 180_000, longPollMs: 1000, tombstoneMs: 600_000 }
const hosts = [{ name: 'entry' }, { name: 'h1' }, { name: 'h2' }, { name: 'h3' }]
const config = pool({
  a: computer('h1', [{ name: 'da', ip: '10.0.0.1' }]),
  b: computer('h2', [{ name: 'db', ip: '10.0.0.2' }]),
  c: computer('h3', [{ name: 'dc', ip: '10.0.0.3' }])
}, { local: { sfClass: 'org.smartfrog.services.management.DeployManagementImpl' } })

const line = (st: { components: Array<{ path: string, state: string, reason?: string }> }, path: string): string => {
  const c = st.components.find(x => x.path === path)
  return c === undefined ? 'absent' : `${c.state}${c.reason !== undefined ? `: ${c.reason}` : ''}`
}

async function deployed (detectionMs: number): Promise<DeployCluster> {
  const c = new DeployCluster({ hosts, seed: 21, detectionMs, timings: T })
  await c.settle(c.get('entry').peer.deploy('p', config))
  return c
}

/** Virtual ms `work` took, and its outcome. */
async function timed<R> (c: DeployCluster, work: () => Promise<R>): Promise<{ ms: number, value: R }> {
  const at = c.clock.now()
  const value = await c.settle(work())
  return { ms: c.clock.now() - at, value }
}

describe('status with an owner gone', () => {
  it('declared dead: answered at once, its part listed lost naming host and peer', async () => {
    const c = await deployed(1000)
    c.kill('h1')
    await c.runFor(1500)
    const { ms, value: st } = await timed(c, () => c.get('h2').peer.status('p'))
    console.log(`status, owner declared dead: ${ms.toFixed(1)} virtual ms`)
    expect(ms).toBeLessThan(50)
    expect(line(st, 'a')).toBe('lost: host h1 (peer peer-h1) declared dead by the mesh')
    expect(st.components.find(x => x.path === 'a')?.host).toBe('h1')
    expect(st.dead).toEqual(['peer-h1'])
    expect(st.unreachable).toEqual(['peer-h1'])
    expect(['', 'b', 'b:db', 'c', 'c:dc'].map(p => line(st, p))).toEqual(['running', 'running', 'running', 'running', 'running'])
  })

  it('silent, not yet declared dead: one request timeout, not three', async () => {
    const c = await deployed(60_000)
    c.kill('h1')
    const { ms, value: st } = await timed(c, () => c.get('h2').peer.status('p'))
    console.log(`status, owner silent: ${ms.toFixed(1)} virtual ms (request timeout ${T.requestTimeoutMs})`)
    expect(ms).toBeGreaterThanOrEqual(T.requestTimeoutMs - 1)
    expect(ms).toBeLessThan(T.requestTimeoutMs + 50)
    expect(st.unreachable).toEqual(['peer-h1'])
    expect(st.dead).toEqual([])
    expect(line(st, 'a')).toBe('absent')
    expect(line(st, 'b')).toBe('running')
  })

  it('declared dead while the request is in flight: stops waiting then', async () => {
    const c = await deployed(1000)
    c.kill('h1')
    const { ms, value: st } = await timed(c, () => c.get('h2').peer.status('p'))
    console.log(`status, owner declared dead ${1000} ms into it: ${ms.toFixed(1)} virtual ms`)
    expect(ms).toBeGreaterThanOrEqual(1000)
    expect(ms).toBeLessThan(1200)
    expect(line(st, 'a')).toBe('lost: host h1 (peer peer-h1) declared dead by the mesh')
  })

  it('the record moves the part while its old owner is asked: the new owner is asked instead', async () => {
    const c = await deployed(60_000)
    c.kill('h1')
    const asker = c.get('h2').peer
    // What a re-placement writes (replace-parts.ts): the part at its new host, being prepared there.
    c.clock.setTimeout(() => {
      const r = asker.registry.get('p')!
      asker.registry.merge({ ...r, version: r.version + 1, parts: r.parts.map(p => p.path === 'a' ? { ...p, host: 'h3', peer: 'peer-h3', epoch: 2, placement: 'reserved' as const } : p) })
    }, 500)
    const asked: string[] = []
    c.net.beforeDeliver = (_from, to, req) => { if (req.type === 'status') asked.push(to) }
    const { ms, value: st } = await timed(c, () => asker.status('p'))
    console.log(`status, part moved 500 ms into it: ${ms.toFixed(1)} virtual ms`)
    expect(ms).toBeGreaterThanOrEqual(500)
    expect(ms).toBeLessThan(700)
    expect(line(st, 'a')).toBe('re-placing: being placed again on host h3 (peer peer-h3)')
    expect(st.unreachable).toEqual([])
    expect(asked.filter(p => p === 'peer-h3')).toHaveLength(1)
  })
})

describe('get with an owner gone', () => {
  it('a part on a dead host: refused at once, naming host and peer', async () => {
    const c = await deployed(1000)
    c.kill('h1')
    await c.runFor(1500)
    const at = c.clock.now()
    const err = await c.settle(c.get('h2').peer.get('p', 'a:da', 'ip')).catch((e: Error) => e)
    expect(c.clock.now() - at).toBe(0)
    expect(err).toMatchObject({ name: 'PartLostError', host: 'h1', peer: 'peer-h1' })
    expect((err as Error).message).toBe('p:a:da: its part a was on host h1 (peer peer-h1), which the mesh declared dead')
    expect(await c.settle(c.get('h2').peer.get('p', 'b:db', 'ip'))).toBe('10.0.0.2')
  })
})

describe('terminate with an owner gone', () => {
  it('declared dead: skipped, its part recorded lost; every other part ends at once', async () => {
    const c = await deployed(1000)
    c.kill('h1')
    await c.runFor(1500)
    c.journal.length = 0
    const { ms, value } = await timed(c, () => c.get('h2').peer.terminate('p'))
    console.log(`terminate, owner declared dead: ${ms.toFixed(1)} virtual ms`)
    expect(ms).toBeLessThan(100)
    expect(value).toEqual({ unreachable: [], lost: [{ path: 'a', host: 'h1', peer: 'peer-h1' }] })
    for (const h of ['entry', 'h2', 'h3']) expect(c.get(h).engine.live('p')).toEqual([])
    const r = c.get('h3').peer.registry.get('p')!
    expect(r.state).toBe('terminated')
    expect(r.reason).toBe('normal: terminated by the operator; lost with their host: a on h1 (peer-h1)')
    expect(r.parts.find(p => p.path === 'a')?.reason).toBe('lost with host h1 (peer peer-h1)')
    // The dead host's claim table went with it; every live holder gave the pool's keys back.
    expect(c.peers.filter(p => p.host !== 'h1').map(p => p.peer.claims.size)).toEqual([0, 0, 0])
    // Told part by part, without cascades: the deepest first, the root's own components last.
    expect(c.journal.filter(l => / stop /.test(l)).map(l => l.split(' ')[0]).slice(-2)).toEqual(['entry', 'entry'])
  })

  it('silent, not yet declared dead: about one request timeout, reported unreachable', async () => {
    const c = await deployed(60_000)
    c.kill('h1')
    const { ms, value } = await timed(c, () => c.get('h2').peer.terminate('p'))
    console.log(`terminate, owner silent: ${ms.toFixed(1)} virtual ms (request timeout ${T.requestTimeoutMs})`)
    expect(ms).toBeLessThan(T.requestTimeoutMs + 100)
    expect(value).toEqual({ unreachable: ['peer-h1'], lost: [] })
    for (const h of ['entry', 'h2', 'h3']) expect(c.get(h).engine.live('p')).toEqual([])
    await c.runFor(10)
    expect(c.get('h3').peer.registry.get('p')?.state).toBe('terminated')
  })

  it('every owner there: the root cascades as before, children first', async () => {
    const c = await deployed(1000)
    c.journal.length = 0
    const { value } = await timed(c, () => c.get('h2').peer.terminate('p'))
    expect(value).toEqual({ unreachable: [], lost: [] })
    expect(c.leftovers('p')).toEqual({ components: 0, reservations: 0, claims: 0 })
    const stops = c.journal.filter(l => / stop /.test(l)).map(l => l.split(' ')[0])
    expect(stops).toHaveLength(11)
    expect(stops.slice(-2)).toEqual(['entry', 'entry'])
  })

  it('terminateComponent of path "" from a peer without the root: the whole pool', async () => {
    const c = await deployed(1000)
    // Every message as the wire would take it (a component "" was refused there: the stream reset).
    const refused: string[] = []
    c.net.beforeDeliver = (_from, _to, req) => { try { validateDeployRequest(JSON.parse(JSON.stringify(req))) } catch (err) { refused.push(`${req.type}: ${(err as Error).message}`) } }
    await c.settle(c.get('h3').peer.terminateComponent('p', '', 'normal', 'by test'))
    expect(refused).toEqual([])
    expect(c.leftovers('p')).toEqual({ components: 0, reservations: 0, claims: 0 })
    expect(c.get('h1').peer.registry.get('p')?.state).toBe('terminated')
  })

  it('the wire takes cascade: false and nothing else', () => {
    const req = { type: 'terminate-part', pool: 'p', path: 'a', kind: 'normal', reason: 'x', fromParent: true }
    expect(validateDeployRequest({ ...req, cascade: false })).toMatchObject({ cascade: false })
    expect(() => validateDeployRequest({ ...req, cascade: true })).toThrow(/cascade/)
  })
})
