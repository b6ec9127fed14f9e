import { describe, expect, it } from 'vitest'
import { realClock } from '../../node/seams/clock.ts'
import { PoolRegistry } from '../../node/deploy/registry.ts'
import { replacementProblem } from '../../node/deploy/replacement-check.ts'
import type { PartPlan, PoolRecordView } from '../../node/deploy/types.ts'

// What an owner checks before preparing a re-placed part (besides the operator's signature): the record's pool is
// running, the part is a scheduled VM under its deployed parent, and the epoch moves it on from a host held dead.

const plan: PartPlan = { path: 'vms:vm1', host: 'h1', peer: 'P1', parentPath: 'vms', parentPeer: 'P0', config: { memory: 512 }, remoteChildren: [], syncTerminate: false, livenessDelayMs: 0, livenessFactor: 2 }

function registry (over: Partial<PoolRecordView> = {}): PoolRegistry {
  const r = new PoolRegistry({ clock: realClock, transport: { request: async () => ({ type: 'ok' }) }, members: () => [], self: 'P2', timeoutMs: 100 })
  r.merge({
    pool: 'p', entry: 'P0', deployId: 'd1', state: 'running', version: 3, claims: { names: [], ips: [] },
    parts: [{ path: '', host: 'h0', peer: 'P0' }, { path: 'vms:vm1', host: 'h1', peer: 'P1', parentPath: 'vms' }, { path: 'pinned', host: 'h1', peer: 'P1' }],
    vms: [{ path: 'vms:vm1', pinned: false, memoryMiB: 512, vcpus: 1, plan }, { path: 'pinned', pinned: true, memoryMiB: 512, vcpus: 1 }],
    ...over
  })
  return r
}
const moved = { ...plan, host: 'h2', peer: 'P2' }
const dead = (p: string): boolean => p !== 'P1'

describe('replacementProblem', () => {
  it('accepts a scheduled VM moved on from a dead host at the next epoch, and the same epoch asked again here', () => {
    expect(replacementProblem(registry(), 'P2', dead, 'p', [moved], 2)).toBeUndefined()
    const again = registry({ version: 4, parts: [{ path: '', host: 'h0', peer: 'P0' }, { path: 'vms:vm1', host: 'h2', peer: 'P2', parentPath: 'vms', epoch: 2, placement: 'reserved' }] })
    expect(replacementProblem(again, 'P2', dead, 'p', [moved], 2)).toBeUndefined()
  })

  it('accepts the root part (a part the record keeps the plan of), and a child under its parent\'s new peer', () => {
    const rootPlan: PartPlan = { path: '', host: 'h0', peer: 'P0', config: {}, remoteChildren: [{ path: 'vms:vm1', host: 'h1', peer: 'P1' }], syncTerminate: false, livenessDelayMs: 0, livenessFactor: 2 }
    const withRoot = registry({ partPlans: [{ path: '', plan: rootPlan }] })
    const root = { ...rootPlan, host: 'h2', peer: 'P2' }
    expect(replacementProblem(withRoot, 'P2', p => p !== 'P0', 'p', [root], 2)).toBeUndefined()
    expect(replacementProblem(withRoot, 'P2', () => true, 'p', [root], 2)).toMatch(/is alive here/)
    expect(replacementProblem(registry(), 'P2', p => p !== 'P0', 'p', [root], 2)).toMatch(/neither a scheduled VM/)
    // The root moved to P3: a VM re-placed now may name P3 as its parent's peer, or the one it was deployed under.
    const movedRoot = registry({ version: 4, partPlans: [{ path: '', plan: rootPlan }], parts: [{ path: '', host: 'h3', peer: 'P3', epoch: 2 }, { path: 'vms:vm1', host: 'h1', peer: 'P1', parentPath: 'vms' }] })
    expect(replacementProblem(movedRoot, 'P2', dead, 'p', [{ ...moved, parentPeer: 'P3' }], 2)).toBeUndefined()
    expect(replacementProblem(movedRoot, 'P2', dead, 'p', [moved], 2)).toBeUndefined()
    expect(replacementProblem(movedRoot, 'P2', dead, 'p', [{ ...moved, parentPeer: 'P4' }], 2)).toMatch(/not the parent/)
  })

  it('refuses a live host, an old epoch, a pinned VM, another parent, an ended or unknown pool', () => {
    expect(replacementProblem(registry(), 'P2', () => true, 'p', [moved], 2)).toMatch(/is alive here/)
    expect(replacementProblem(registry(), 'P2', dead, 'p', [moved], 1)).toMatch(/epoch 1 is not after 1/)
    expect(replacementProblem(registry(), 'P2', dead, 'p', [{ ...moved, path: 'pinned' }], 2)).toMatch(/neither a scheduled VM nor a part the record can re-place/)
    expect(replacementProblem(registry(), 'P2', dead, 'p', [{ ...moved, parentPeer: 'P9' }], 2)).toMatch(/not the parent/)
    expect(replacementProblem(registry({ state: 'terminated', version: 9 }), 'P2', dead, 'p', [moved], 2)).toMatch(/not running here/)
    expect(replacementProblem(registry(), 'P2', dead, 'q', [moved], 2)).toMatch(/not running here/)
  })
})
