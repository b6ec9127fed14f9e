import { describe, expect, it } from 'vitest'
import { ClaimTable, claimHolders, CLAIM_REPLICAS } from '../../node/deploy/claims.ts'
import { PoolRegistry } from '../../node/deploy/registry.ts'
import type { DeployTransport, PoolRecordView } from '../../node/deploy/types.ts'
import { SimClock } from '../../simulations/scheduler/sim-clock.ts'

const noTransport: DeployTransport = { request: async () => { throw new Error('no network in this test') } }

function record (pool: string, state: PoolRecordView['state'], version: number, names: string[] = []): PoolRecordView {
  return { pool, entry: 'E', deployId: `${pool}-1`, parts: [], claims: { names, ips: [] }, state, version }
}

describe('ClaimTable (holder side)', () => {
  it('grants a key to the first pool, refuses others while the claim lives, and frees it on expiry or release', async () => {
    const clock = new SimClock()
    const t = new ClaimTable({ clock, usedBy: () => undefined })
    expect(t.claim('d1', 'alpha', 'name', 'web', 1000)).toEqual({ granted: true })
    expect(t.claim('d1', 'alpha', 'name', 'web', 1000)).toEqual({ granted: true })
    expect(t.claim('d2', 'beta', 'name', 'web', 1000)).toEqual({ granted: false, heldBy: 'alpha' })
    expect(t.claim('d2', 'beta', 'ip', 'web', 1000)).toEqual({ granted: true })
    await clock.run({ until: 1500 })
    expect(t.holderOf('name', 'web')).toBeUndefined()
    expect(t.claim('d2', 'beta', 'name', 'web', 1000)).toEqual({ granted: true })
    t.confirm('d2', 'beta', { names: ['web'], ips: [] })
    await clock.run({ until: 10_000 })
    expect(t.claim('d3', 'gamma', 'name', 'web', 1000)).toEqual({ granted: false, heldBy: 'beta' })
    t.release('d3', 'gamma', { names: ['web'], ips: [] })
    expect(t.holderOf('name', 'web')).toBe('beta')
    t.release('d2', 'beta', { names: ['web'], ips: [] })
    expect(t.claimMany('d3', 'gamma', { names: ['web', 'db'], ips: ['10.0.0.1'] }, 1000)).toEqual([])
  })

  it('refuses a key the registry shows in use by another live pool', () => {
    const clock = new SimClock()
    const t = new ClaimTable({ clock, usedBy: (kind, value, except) => kind === 'name' && value === 'web' && except.pool !== 'alpha' ? 'alpha' : undefined })
    expect(t.claimMany('d', 'beta', { names: ['web', 'db'], ips: [] }, 1000)).toEqual([{ kind: 'name', value: 'web', heldBy: 'alpha' }])
    expect(t.claim('d', 'alpha', 'name', 'web', 1000)).toEqual({ granted: true })
  })

  it('holds a pool name for one deploy id: a second deploy of the same name is refused until released', () => {
    const clock = new SimClock()
    const t = new ClaimTable({ clock, usedBy: () => undefined })
    expect(t.claimMany('d1', 'p', { names: ['web'], ips: [], pool: 'p' }, 1000)).toEqual([])
    expect(t.claimMany('d1', 'p', { names: ['web'], ips: [], pool: 'p' }, 1000)).toEqual([])
    expect(t.claimMany('d2', 'p', { names: ['web'], ips: [], pool: 'p' }, 1000)).toEqual([{ kind: 'pool', value: 'p', heldBy: 'deploy d1' }])
    t.release('d2', 'p', { names: [], ips: [], pool: 'p' })
    expect(t.holderOf('pool', 'p')).toBe('p')
    t.release('d1', 'p', { names: ['web'], ips: [], pool: 'p' })
    expect(t.size).toBe(0)
  })

  it('picks the same holders on every peer, whatever the order of the member list', () => {
    const members = Array.from({ length: 20 }, (_, i) => `peer-${i}`)
    const h = claimHolders('name', 'web', members)
    expect(h).toHaveLength(CLAIM_REPLICAS)
    expect(claimHolders('name', 'web', [...members].reverse())).toEqual(h)
    expect(claimHolders('ip', 'web', members)).not.toEqual(h)
    // Losing a peer that is not a holder changes nothing.
    const outsider = members.find(m => !h.includes(m)) as string
    expect(claimHolders('name', 'web', members.filter(m => m !== outsider))).toEqual(h)
  })
})

describe('PoolRegistry', () => {
  it('keeps the higher version; at equal versions the state further along wins, whatever the arrival order', () => {
    const clock = new SimClock()
    const orders = [
      [record('p', 'running', 3), record('p', 'terminating', 4), record('p', 'terminated', 4)],
      [record('p', 'terminated', 4), record('p', 'running', 3), record('p', 'terminating', 4)]
    ]
    for (const order of orders) {
      const r = new PoolRegistry({ clock, transport: noTransport, members: () => ['self'], self: 'self', timeoutMs: 100 })
      for (const x of order) r.merge(x)
      expect(r.get('p')).toMatchObject({ state: 'terminated', version: 4 })
    }
  })

  it('answers which live pool uses a key; tombstones do not count and are pruned by age', async () => {
    const clock = new SimClock()
    const r = new PoolRegistry({ clock, transport: noTransport, members: () => ['self'], self: 'self', timeoutMs: 100 })
    r.merge(record('a', 'running', 1, ['web']))
    r.merge(record('b', 'preparing', 1, ['db']))
    r.merge(record('c', 'terminated', 2, ['mail']))
    expect(r.usedBy('name', 'web', { pool: 'x', deployId: 'dx' })).toBe('a')
    expect(r.usedBy('name', 'web', { pool: 'a', deployId: 'dx' })).toBeUndefined()
    expect(r.usedBy('name', 'db', { pool: 'x', deployId: 'dx' })).toBeUndefined()
    expect(r.usedBy('name', 'mail', { pool: 'x', deployId: 'dx' })).toBeUndefined()
    await clock.run({ until: 1000 })
    expect(r.prune(500)).toBe(1)
    expect(r.list().map(x => x.pool)).toEqual(['a', 'b'])
    const next = await r.update('a', old => ({ ...(old as PoolRecordView), state: 'terminating' }))
    expect(next.version).toBe(2)
  })
})
