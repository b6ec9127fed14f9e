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

  it('refuses a live host, an old epoch, a pinned VM, another parent, an ended or unknown pool', () => {
    expect(replacementProblem(registry(), 'P2', () => true, 'p', [moved], 2)).toMatch(/is alive here/)
    expect(replacementProblem(registry(), 'P2', dead, 'p', [moved], 1)).toMatch(/epoch 1 is not after 1/)
    expect(replacementProblem(registry(), 'P2', dead, 'p', [{ ...moved, path: 'pinned' }], 2)).toMatch(/not a scheduled VM/)
    expect(replacementProblem(registry(), 'P2', dead, 'p', [{ ...moved, parentPeer: 'P9' }], 2)).toMatch(/not the parent/)
    expect(replacementProblem(registry({ state: 'terminated', version: 9 }), 'P2', dead, 'p', [moved], 2)).toMatch(/not running here/)
    expect(replacementProblem(registry(), 'P2', dead, 'q', [moved], 2)).toMatch(/not running here/)
  })
})
