import { describe, expect, it } from 'vitest'
import { mustStop, rejoin } from '../../node/scheduler/fencing.ts'
import type { LocalCopy } from '../../node/scheduler/fencing.ts'
import { HostAdmission } from '../../node/scheduler/admission.ts'
import type { VmRecord } from '../../node/scheduler/pool-record.ts'
import { SimClock } from '../../simulations/scheduler/sim-clock.ts'

const rec = (vmId: string, host: string, epoch: number, state: VmRecord['state'] = 'running'): VmRecord =>
  ({ vmId, demand: { pool: 'p', vmId, memoryMiB: 512, vcpus: 1 }, host, epoch, state, pinned: false, requestId: `p/${vmId}@${epoch}` })
const copy = (vmId: string, epoch: number): LocalCopy => ({ pool: 'p', vmId, epoch, requestId: `p/${vmId}@${epoch}` })

describe('fencing by epoch', () => {
  it.each([
    ['placed elsewhere at a higher epoch', rec('a', 'h2', 2), true],
    ['still ours at the same epoch', rec('a', 'h1', 1), false],
    ['ours again at a higher epoch (this copy is older)', rec('a', 'h1', 2), true],
    ['failed in the record', rec('a', 'h1', 1, 'failed'), true],
    ['unknown to the pool (terminated)', undefined, true]
  ])('a copy %s: stop=%s', (_why, authoritative, stop) => {
    expect(mustStop('h1', copy('a', 1), authoritative as VmRecord | undefined)).toBe(stop)
  })

  it('stops every stale copy before announcing alive, refuses reservations meanwhile, learns the epochs', async () => {
    const clock = new SimClock()
    const admission = new HostAdmission({ host: 'h1', capacity: { memoryMiB: 4096, vcpus: 4 }, clock })
    for (const v of ['a', 'b']) {
      admission.reserve({ requestId: `p/${v}@1`, pool: 'p', vmId: v, memoryMiB: 512, vcpus: 1, epoch: 1 })
      admission.commit(`p/${v}@1`)
    }
    const running = new Map([['p/a@1', copy('a', 1)], ['p/b@1', copy('b', 1)]])
    const events: string[] = []
    const done = rejoin({
      self: 'h1',
      admission,
      copies: () => [...running.values()],
      fetchRecord: async () => { await clock.sleep(5); return [rec('a', 'h2', 2), rec('b', 'h1', 1)] },
      stopCopy: async (c) => {
        events.push(`stop ${c.vmId}`)
        expect(admission.reserve({ requestId: 'late', pool: 'q', vmId: 'z', memoryMiB: 1, vcpus: 0, epoch: 1 })).toMatchObject({ admitted: false, reason: 'draining' })
        await clock.sleep(50)
        running.delete(c.requestId)
      },
      announceAlive: () => { events.push(`alive with ${running.size} running`) }
    })
    await clock.run()
    const stopped = await done
    expect(stopped.map(s => s.vmId)).toEqual(['a'])
    expect(events).toEqual(['stop a', 'alive with 1 running'])
    expect(admission.entries().map(e => e.vmId)).toEqual(['b'])
    // a late request for the old copy is refused from now on
    expect(admission.reserve({ requestId: 'old', pool: 'p', vmId: 'a', memoryMiB: 512, vcpus: 1, epoch: 1 })).toMatchObject({ admitted: false, reason: 'stale-epoch' })
  })

  it('does not announce when the record cannot be fetched', async () => {
    const admission = new HostAdmission({ host: 'h1', capacity: { memoryMiB: 4096, vcpus: 4 }, clock: new SimClock() })
    let announced = false
    await expect(rejoin({
      self: 'h1', admission, copies: () => [copy('a', 1)],
      fetchRecord: async () => { throw new Error('no participant reachable') },
      stopCopy: async () => {},
      announceAlive: () => { announced = true }
    })).rejects.toThrow('no participant reachable')
    expect(announced).toBe(false)
  })
})
