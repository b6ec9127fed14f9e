import { describe, expect, it } from 'vitest'
import { orphanDecision } from '../../node/deploy/orphans.ts'
import { lostParts } from '../../node/deploy/replace-parts.ts'
import type { PartPlan, PoolRecordView } from '../../node/deploy/types.ts'

// The coordinator's answer to a part whose parent's peer stopped pinging, from the pool record and the failure
// detector alone; and which non-VM parts its re-placement duty picks up.

const rootPlan: PartPlan = { path: '', host: 'h0', peer: 'P0', config: {}, remoteChildren: [{ path: 'a', host: 'h1', peer: 'P1' }], syncTerminate: true, livenessDelayMs: 1000, livenessFactor: 2 }
const base: PoolRecordView = {
  pool: 'p', entry: 'P0', deployId: 'd', state: 'running', version: 5, claims: { names: [], ips: [] },
  parts: [{ path: '', host: 'h0', peer: 'P0' }, { path: 'a', host: 'h1', peer: 'P1', parentPath: '' }, { path: 'a:vm', host: 'h2', peer: 'P2', parentPath: 'a' }],
  partPlans: [{ path: '', plan: rootPlan }],
  vms: [{ path: 'a:vm', pinned: true, memoryMiB: 512, vcpus: 1 }]
}
const root = (over: Partial<PoolRecordView['parts'][number]>): PoolRecordView => ({ ...base, parts: base.parts.map(p => p.path === '' ? { ...p, ...over } : p) })
const report = { pool: 'p', path: 'a', peer: 'P1', parentPeer: 'P0' }
const deadP0 = (p: string): boolean => p !== 'P0'

describe('orphanDecision', () => {
  it.each([
    ['the parent\'s host is only suspected (still live)', base, () => true, 'wait'],
    ['the parent\'s host is dead, its part not re-placed yet', base, deadP0, 'wait'],
    ['the parent is reserved on a live peer, not committed', root({ peer: 'P3', epoch: 2, placement: 'reserved' }), deadP0, 'wait'],
    ['the parent runs on another live peer now', root({ peer: 'P3', epoch: 2, placement: 'running' }), deadP0, { reparent: 'P3' }],
    ['the parent\'s re-placement failed', root({ placement: 'failed' }), deadP0, 'terminate'],
    ['the pool ended', { ...base, state: 'failed' as const }, deadP0, 'terminate'],
    ['the record holds no plan of the parent', { ...base, partPlans: [] }, deadP0, 'terminate']
  ])('%s', (_, r, isLive, want) => {
    expect(orphanDecision(r, report, isLive)).toEqual(want)
  })

  it('a child whose parent part the record cannot re-place, or of an unknown pool, is terminated (SmartFrog\'s answer)', () => {
    expect(orphanDecision(base, { pool: 'p', path: 'a:vm', peer: 'P2', parentPeer: 'P1' }, p => p !== 'P1')).toBe('terminate')
    expect(orphanDecision(undefined, report, deadP0)).toBe('terminate')
  })
})

describe('lostParts', () => {
  it('picks the non-VM parts on dead hosts and those left reserved, never a VM or a failed part', () => {
    expect(lostParts(base, deadP0).map(p => p.path)).toEqual([''])
    expect(lostParts(base, p => p === 'P0').map(p => p.path)).toEqual(['a'])
    expect(lostParts(root({ peer: 'P3', placement: 'reserved', epoch: 2 }), () => true).map(p => p.path)).toEqual([''])
    expect(lostParts(root({ placement: 'failed' }), deadP0)).toEqual([])
  })
})
