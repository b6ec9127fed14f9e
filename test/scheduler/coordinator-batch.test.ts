import { describe, expect, it } from 'vitest'
import { coordinatorOf, PoolCoordinatorRole } from '../../node/scheduler/coordinator.ts'
import { PoolRecord } from '../../node/scheduler/pool-record.ts'
import type { VmRecord } from '../../node/scheduler/pool-record.ts'
import { HostAdmission } from '../../node/scheduler/admission.ts'
import { HostView } from '../../node/scheduler/host-view.ts'
import { Placer } from '../../node/scheduler/placer.ts'
import type { ReservationTransport } from '../../node/scheduler/placer.ts'
import { seededRandom } from '../../node/scheduler/random.ts'
import { SimClock } from '../../simulations/scheduler/sim-clock.ts'

// Issue 6: the VMs of a dead host move together. Reservations go out at once, the record learns all of them in
// one write before any commit (a successor commits them instead of placing twice), the commits go out at once,
// and one more write says they run: a run costs a few round trips, not four per VM.

function rig () {
  const clock = new SimClock()
  const live = new Set(['d', 'h1', 'h2', 'h3'])
  const hosts = new Map(['h1', 'h2', 'h3'].map(h => [h, new HostAdmission({ host: h, capacity: { memoryMiB: 8192, vcpus: 16 }, clock })]))
  const log: string[] = []
  let inFlight = 0
  let maxInFlight = 0
  // Every reservation and commit yields to the event loop first, as a network round trip would.
  const trip = async <T>(what: string, f: () => T): Promise<T> => {
    inFlight++; maxInFlight = Math.max(maxInFlight, inFlight)
    await new Promise(resolve => setImmediate(resolve))
    inFlight--
    log.push(what)
    return f()
  }
  const transport: ReservationTransport = {
    reserve: async (h, r) => await trip(`reserve ${r.vmId}`, () => hosts.get(h)!.reserve(r)),
    commit: async (h, id) => await trip(`commit ${id}`, () => hosts.get(h)!.commit(id)),
    release: async (h, id) => hosts.get(h)!.release(id)
  }
  const view = new HostView({ clock })
  for (const [h, a] of hosts) view.merge({ host: h, version: 1, driver: 'sim', capacity: a.capacity, used: { memoryMiB: 0, vcpus: 0 }, domains: 0, images: [], attributes: {} })
  const placer = new Placer({ view, transport, clock, random: seededRandom(7) }, { self: 'd' })
  const record = new PoolRecord('pool', ['d', 'h1'])
  const vms = Array.from({ length: 8 }, (_, i) => `vm${i}`)
  for (const vmId of vms) {
    const r = hosts.get('h1')!.reserve({ requestId: `pool/${vmId}@1`, pool: 'pool', vmId, memoryMiB: 512, vcpus: 1, epoch: 1 })
    hosts.get('h1')!.commit(r.requestId)
    record.apply({ vmId, demand: { pool: 'pool', vmId, memoryMiB: 512, vcpus: 1 }, host: 'h1', epoch: 1, state: 'running', pinned: false, requestId: r.requestId })
  }
  const writes: VmRecord[][] = []
  const role = new PoolCoordinatorRole({
    self: 'd',
    record,
    placer,
    isLive: p => live.has(p),
    replicate: async () => { throw new Error('one write per step: replicateAll is given') },
    replicateAll: async us => { log.push(`write ${us.length}`); writes.push([...us]); for (const u of us) record.apply(u) },
    replicateParticipants: async ps => { for (const p of ps) record.addParticipant(p) }
  }, {})
  return { live, view, record, vms, writes, log, role, maxInFlight: () => maxInFlight }
}

describe('re-placement of a dead host\'s VMs as one batch', () => {
  it('reserves all at once, records them in one write before any commit, commits all at once, records them running', async () => {
    const r = rig()
    r.live.delete('h1'); r.view.setLive('h1', false)
    expect(coordinatorOf('pool', r.record.participants(), p => r.live.has(p))).toBe('d')
    const out = await r.role.onMembershipChange()

    expect(out.replaced.map(x => x.vmId).sort()).toEqual(r.vms)
    expect(out.failed).toEqual([])
    expect(r.maxInFlight()).toBeGreaterThan(1)
    expect(r.writes.map(w => w.map(u => u.state))).toEqual([r.vms.map(() => 'reserved'), r.vms.map(() => 'running')])
    // Every reservation answered before the reserved write, which comes before the first commit.
    const reservedWrite = r.log.indexOf(`write ${r.vms.length}`)
    expect(r.log.slice(0, reservedWrite).every(l => l.startsWith('reserve'))).toBe(true)
    expect(r.log.slice(reservedWrite + 1, reservedWrite + 1 + r.vms.length).every(l => l.startsWith('commit'))).toBe(true)
    for (const v of r.vms) expect(r.record.get(v)).toMatchObject({ epoch: 2, state: 'running' })
    expect(r.record.vms().every(v => v.host !== 'h1')).toBe(true)
    expect(out.phasesMs).toBeDefined()

    // Nothing is lost any more: a second run does nothing and writes nothing.
    const again = await r.role.onMembershipChange()
    expect(again.replaced).toEqual([])
    expect(r.writes.length).toBe(2)
  })
})
