import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { HostAdmission } from '../../node/scheduler/admission.ts'
import { SimClock } from '../../simulations/scheduler/sim-clock.ts'
import type { ReserveRequest } from '../../node/scheduler/types.ts'

const req = (id: string, o: Partial<ReserveRequest> = {}): ReserveRequest =>
  ({ requestId: id, pool: 'p', vmId: id, memoryMiB: 1024, vcpus: 1, epoch: 1, ...o })

function make (clock = new SimClock(), ttl = 1000): { a: HostAdmission, clock: SimClock } {
  return { a: new HostAdmission({ host: 'h1', capacity: { memoryMiB: 4096, vcpus: 4 }, clock, reservationTtlMs: ttl }), clock }
}

describe('host admission', () => {
  it('admits while resources last, then refuses with the reason and the free figures', () => {
    const { a } = make()
    for (const id of ['a', 'b', 'c', 'd']) expect(a.reserve(req(id)).admitted).toBe(true)
    const r = a.reserve(req('e'))
    expect(r).toMatchObject({ admitted: false, reason: 'memory', free: { memoryMiB: 0, vcpus: 0 } })
    const v = a.reserve(req('f', { memoryMiB: 0, vcpus: 1 }))
    expect(v).toMatchObject({ admitted: false, reason: 'vcpus' })
  })

  it('is idempotent on a retried request id, admitted or refused', () => {
    const { a } = make()
    expect(a.reserve(req('a', { memoryMiB: 3072 })).admitted).toBe(true)
    expect(a.reserve(req('a', { memoryMiB: 3072 })).admitted).toBe(true)
    expect(a.accounting().reserved.memoryMiB).toBe(3072)
    expect(a.reserve(req('b', { memoryMiB: 2048 })).admitted).toBe(false)
    a.release('a')
    // a late duplicate of the refused request gets the same answer: its sender already moved on
    expect(a.reserve(req('b', { memoryMiB: 2048 })).admitted).toBe(false)
    expect(a.accounting().reserved.memoryMiB).toBe(0)
  })

  it('one copy per VM and epoch, whatever the request id; a reserved copy passes to the newest id', () => {
    const { a } = make()
    expect(a.reserve(req('x1', { vmId: 'vm' })).admitted).toBe(true)
    const again = a.reserve(req('x2', { vmId: 'vm' }))
    expect(again).toMatchObject({ admitted: true, requestId: 'x2' })
    expect(a.accounting().reserved.memoryMiB).toBe(1024)
    // The old id (an aborted deploy whose abort never came, its lease now ending) no longer holds it.
    expect(a.release('x1')).toBe(false)
    expect(a.commit('x2')).toEqual({ committed: true })
    // Once committed, the running copy keeps its id: a third asker is told which one it is.
    expect(a.reserve(req('x3', { vmId: 'vm' }))).toMatchObject({ admitted: true, requestId: 'x2' })
    expect(a.accounting().committed.memoryMiB).toBe(1024)
  })

  it('fences by epoch: lower epochs refused, a higher one replaces the old copy', () => {
    const { a } = make()
    expect(a.reserve(req('e2', { vmId: 'vm', epoch: 2 })).admitted).toBe(true)
    expect(a.reserve(req('e1', { vmId: 'vm', epoch: 1 }))).toMatchObject({ admitted: false, reason: 'stale-epoch' })
    expect(a.reserve(req('e3', { vmId: 'vm', epoch: 3 })).admitted).toBe(true)
    expect(a.entries().map(e => [e.requestId, e.epoch])).toEqual([['e3', 3]])
    a.fence('p', 'vm', 5)
    expect(a.entries()).toEqual([])
    expect(a.reserve(req('e4', { vmId: 'vm', epoch: 4 }))).toMatchObject({ admitted: false, reason: 'stale-epoch' })
  })

  it('reservations never committed expire; committed ones stay until released', async () => {
    const { a, clock } = make(undefined, 1000)
    a.start()
    a.reserve(req('a')); a.reserve(req('b'))
    expect(a.commit('a')).toEqual({ committed: true })
    await clock.run({ until: 2000 })
    a.stop()
    expect(a.entries().map(e => e.requestId)).toEqual(['a'])
    expect(a.commit('b')).toEqual({ committed: false, reason: 'unknown' })
    expect(a.release('a')).toBe(true)
    expect(a.release('a')).toBe(false)
    expect(a.free()).toEqual({ memoryMiB: 4096, vcpus: 4 })
  })

  it('a commit that comes after the TTL but before a sweep dropped the reservation keeps it (the lease decides)', async () => {
    const { a, clock } = make(undefined, 1000)
    a.reserve(req('late'))
    await clock.run({ until: 1500 })
    // No sweep ran (not started): the participant's lease, timed on its own, let this commit through.
    expect(a.commit('late')).toEqual({ committed: true })
    a.sweep()
    expect(a.entries().map(e => [e.requestId, e.state])).toEqual([['late', 'committed']])
    expect(a.free().memoryMiB).toBe(4096 - a.entries()[0].memoryMiB)
  })

  it('refuses everything while draining', () => {
    const { a } = make()
    a.setDraining(true)
    expect(a.reserve(req('a'))).toMatchObject({ admitted: false, reason: 'draining' })
  })

  it('is never over-committed under any interleaving of reserve, commit, release, expiry and fencing', () => {
    const op = fc.oneof(
      fc.record({ k: fc.constant('reserve' as const), id: fc.integer({ min: 0, max: 15 }), vm: fc.integer({ min: 0, max: 5 }), mem: fc.integer({ min: 0, max: 3000 }), cpu: fc.integer({ min: 0, max: 3 }), epoch: fc.integer({ min: 1, max: 3 }) }),
      fc.record({ k: fc.constant('commit' as const), id: fc.integer({ min: 0, max: 15 }) }),
      fc.record({ k: fc.constant('release' as const), id: fc.integer({ min: 0, max: 15 }) }),
      fc.record({ k: fc.constant('advance' as const), ms: fc.integer({ min: 0, max: 800 }) }),
      fc.record({ k: fc.constant('fence' as const), vm: fc.integer({ min: 0, max: 5 }), epoch: fc.integer({ min: 1, max: 4 }) })
    )
    fc.assert(fc.property(fc.array(op, { maxLength: 60 }), ops => {
      let now = 0
      const clock = { now: () => now, setTimeout: () => ({ cancel () {} }), sleep: async () => {} }
      const a = new HostAdmission({ host: 'h', capacity: { memoryMiB: 4096, vcpus: 4 }, clock, reservationTtlMs: 1000 })
      for (const o of ops) {
        if (o.k === 'reserve') a.reserve({ requestId: `r${o.id}`, pool: 'p', vmId: `v${o.vm}`, memoryMiB: o.mem, vcpus: o.cpu, epoch: o.epoch })
        else if (o.k === 'commit') a.commit(`r${o.id}`)
        else if (o.k === 'release') a.release(`r${o.id}`)
        else if (o.k === 'fence') a.fence('p', `v${o.vm}`, o.epoch)
        else { now += o.ms; a.sweep() }
        const acc = a.accounting()
        const mem = acc.reserved.memoryMiB + acc.committed.memoryMiB
        const cpu = acc.reserved.vcpus + acc.committed.vcpus
        if (mem > 4096 || cpu > 4) return false
        if (acc.free.memoryMiB !== 4096 - mem || acc.free.vcpus !== 4 - cpu) return false
        // one entry per VM
        if (new Set(acc.entries.map(e => e.vmId)).size !== acc.entries.length) return false
      }
      return true
    }), { numRuns: 500, seed: 7 })
  })
})
