import { describe, expect, it } from 'vitest'
import { coordinatorOf, hrwOrder, hrwScore, PoolCoordinatorRole } from '../../node/scheduler/coordinator.ts'
import { PoolRecord } from '../../node/scheduler/pool-record.ts'
import type { VmRecord } from '../../node/scheduler/pool-record.ts'
import { HostAdmission } from '../../node/scheduler/admission.ts'
import { HostView } from '../../node/scheduler/host-view.ts'
import { Placer } from '../../node/scheduler/placer.ts'
import type { ReservationTransport } from '../../node/scheduler/placer.ts'
import { seededRandom } from '../../node/scheduler/random.ts'
import { HostUnreachableError } from '../../node/scheduler/errors.ts'
import { SimClock } from '../../simulations/scheduler/sim-clock.ts'

const peers = Array.from({ length: 12 }, (_, i) => `peer${i}`)

describe('coordinator by rendezvous hashing', () => {
  it('every peer computes the same order, whatever the order it lists participants in', () => {
    const a = hrwOrder('pool-1', peers)
    expect(hrwOrder('pool-1', [...peers].reverse())).toEqual(a)
    expect(new Set(a).size).toBe(peers.length)
    expect(hrwScore('pool-1', a[0]) >= hrwScore('pool-1', a[1])).toBe(true)
  })

  it('is the first live participant; when it dies the next in order takes over, others keep their pools', () => {
    const order = hrwOrder('pool-1', peers)
    expect(coordinatorOf('pool-1', peers, () => true)).toBe(order[0])
    const dead = new Set([order[0]])
    expect(coordinatorOf('pool-1', peers, p => !dead.has(p))).toBe(order[1])
    dead.add(order[1])
    expect(coordinatorOf('pool-1', peers, p => !dead.has(p))).toBe(order[2])
    expect(coordinatorOf('pool-1', peers, () => false)).toBeUndefined()
    // minimal disruption: a death moves only the pools that peer coordinated
    const pools = Array.from({ length: 300 }, (_, i) => `pool-${i}`)
    const victim = 'peer3'
    let moved = 0
    for (const p of pools) {
      const before = coordinatorOf(p, peers, () => true)
      const after = coordinatorOf(p, peers, x => x !== victim)
      if (before !== after) { moved++; expect(before).toBe(victim) }
    }
    expect(moved).toBeGreaterThan(0)
  })

  it('spreads pools over peers roughly evenly', () => {
    const counts = new Map<string, number>()
    for (let i = 0; i < 1200; i++) {
      const c = coordinatorOf(`pool-${i}`, peers, () => true)!
      counts.set(c, (counts.get(c) ?? 0) + 1)
    }
    expect(counts.size).toBe(12)
    expect(Math.min(...counts.values())).toBeGreaterThan(60) // 100 expected each
    expect(Math.max(...counts.values())).toBeLessThan(140)
  })
})

/** Three hosts with real admission behind an in-process transport (no delay), for the role's own logic. */
function rig () {
  const clock = new SimClock()
  const live = new Set(['d', 'h1', 'h2', 'h3'])
  const hosts = new Map(['h1', 'h2', 'h3'].map(h => [h, new HostAdmission({ host: h, capacity: { memoryMiB: 4096, vcpus: 8 }, clock })]))
  const transport: ReservationTransport = {
    reserve: async (h, r) => { if (!live.has(h)) throw new HostUnreachableError(h); return hosts.get(h)!.reserve(r) },
    commit: async (h, id) => { if (!live.has(h)) throw new HostUnreachableError(h); return hosts.get(h)!.commit(id) },
    release: async (h, id) => hosts.get(h)!.release(id)
  }
  const view = new HostView({ clock })
  for (const [h, a] of hosts) view.merge({ host: h, version: 1, driver: 'sim', capacity: a.capacity, used: { memoryMiB: 0, vcpus: 0 }, domains: 0, images: [], attributes: {} })
  const placer = new Placer({ view, transport, clock, random: seededRandom(1) }, { self: 'd' })
  const record = new PoolRecord('pool', ['d'])
  const replicated: VmRecord[] = []
  const demand = (vmId: string) => ({ pool: 'pool', vmId, memoryMiB: 512, vcpus: 1 })
  const put = (vmId: string, host: string, o: Partial<VmRecord> = {}): void => {
    const r = hosts.get(host)!.reserve({ requestId: `pool/${vmId}@1`, pool: 'pool', vmId, memoryMiB: 512, vcpus: 1, epoch: 1 })
    hosts.get(host)!.commit(r.requestId)
    record.apply({ vmId, demand: demand(vmId), host, epoch: 1, state: 'running', pinned: false, requestId: r.requestId, ...o })
  }
  const role = (self: string) => new PoolCoordinatorRole({
    self, record, placer, isLive: p => live.has(p),
    replicate: async u => { replicated.push(u); record.apply(u) },
    replicateParticipants: async ps => { for (const p of ps) record.addParticipant(p) }
  }, {})
  return { clock, live, hosts, view, record, replicated, put, role }
}

describe('re-placement by the coordinator', () => {
  it('moves the scheduled VMs of a dead host at epoch + 1, reports pinned ones failed, uses saved images', async () => {
    const r = rig()
    r.put('a', 'h1'); r.put('b', 'h1'); r.put('c', 'h2'); r.put('pinned', 'h1', { pinned: true }); r.put('s', 'h1', { savedImage: 'saved/s.img' })
    const self = coordinatorOf('pool', r.record.participants(), p => p !== 'h1')!
    r.live.delete('h1'); r.view.setLive('h1', false)
    const out = await r.role(self).onMembershipChange()
    expect(out.replaced.map(x => x.vmId).sort()).toEqual(['a', 'b', 's'])
    expect(out.replaced.every(x => x.epoch === 2 && x.to !== 'h1')).toBe(true)
    expect(out.replaced.find(x => x.vmId === 's')?.source).toBe('saved')
    expect(out.failed.map(f => [f.vmId, f.error.name])).toEqual([['pinned', 'PinnedVmLostError']])
    expect(r.record.get('pinned')?.state).toBe('failed')
    for (const v of ['a', 'b', 's']) {
      const rec = r.record.get(v)!
      expect(rec.state).toBe('running')
      expect(r.hosts.get(rec.host)!.entries().find(e => e.vmId === v)).toMatchObject({ state: 'committed', epoch: 2 })
    }
    // reserved, then running: the replicas learn the placement before the host commits it
    expect(r.replicated.filter(u => u.vmId === 'a').map(u => u.state)).toEqual(['reserved', 'running'])
    // the hosts that received VMs join the pool's participants at the end of the run
    for (const x of out.replaced) expect(r.record.participants()).toContain(x.to)
  })

  it('a peer that is not the coordinator does nothing', async () => {
    const r = rig()
    r.put('a', 'h1')
    r.live.delete('h1')
    const participants = r.record.participants()
    const notCoordinator = participants.find(p => p !== coordinatorOf('pool', participants, x => r.live.has(x)) && r.live.has(p))!
    const out = await r.role(notCoordinator).onMembershipChange()
    expect(out.replaced).toEqual([])
    expect(r.record.get('a')?.host).toBe('h1')
  })

  it('a successor commits what its predecessor reserved and recorded instead of placing it twice', async () => {
    const r = rig()
    r.put('a', 'h1')
    // the old coordinator reserved a@2 on h2 and recorded it, then died before the commit
    const res = r.hosts.get('h2')!.reserve({ requestId: 'pool/a@2', pool: 'pool', vmId: 'a', memoryMiB: 512, vcpus: 1, epoch: 2 })
    r.record.apply({ ...r.record.get('a')!, host: 'h2', epoch: 2, state: 'reserved', requestId: res.requestId })
    r.live.delete('h1')
    const self = coordinatorOf('pool', r.record.participants(), p => r.live.has(p))!
    const out = await r.role(self).onMembershipChange()
    expect(out.replaced).toEqual([])
    expect(r.record.get('a')).toMatchObject({ host: 'h2', epoch: 2, state: 'running' })
    expect([...r.hosts.values()].flatMap(h => h.entries()).filter(e => e.vmId === 'a').length).toBe(2) // h1's old copy (unreachable) and h2's
    expect(r.hosts.get('h3')!.entries()).toEqual([])
  })
})
