import type { Clock, Timer } from '../seams/clock.ts'
import { hrwScore, PoolCoordinatorRole } from '../scheduler/coordinator.ts'
import { NoHostFitsError, ReservationRefusedError } from '../scheduler/errors.ts'
import { meshCandidates } from '../scheduler/assign.ts'
import type { MeshHostView } from '../scheduler/assign.ts'
import type { PlacedVm } from '../scheduler/placer.ts'
import { chooseOrder, rank } from '../scheduler/placement.ts'
import { PoolRecord } from '../scheduler/pool-record.ts'
import type { VmRecord } from '../scheduler/pool-record.ts'
import { seededRandom } from '../scheduler/random.ts'
import type { HostState, SchedulerSpec, VmDemand } from '../scheduler/types.ts'
import type { DeployPeer } from './peer.ts'
import { orphanDecision } from './orphans.ts'
import { isActive, participantsOf } from './registry.ts'
import { replaceLostParts, replacementId } from './replace-parts.ts'
import type { PartReplacerInit } from './replace-parts.ts'
import { ALIVE_HERE, currentParentPeer } from './replacement-check.ts'
import type { OrphanPolicy, PoolRecordView, PoolVmView } from './types.ts'

// The pool coordinator's duty in the daemon: the scheduler's PoolCoordinatorRole (HRW coordinator, re-placement at
// epoch + 1, successor takeover) over the deploy service. The pool registry is the replicated placement record
// (every member holds it; the coordinator's writes go to all); a reservation is a two-phase prepare of the one
// re-placed part on its new host (its admission judges, at the new epoch), the commit deploys and starts it. Any
// participant can do it: the registry carries each scheduled part's plan and the operator's proof of it.
//
// The same duty re-deploys the parts that are not one VM (the pool's root above all) when their host dies
// (replace-parts.ts), and answers the orphans that lost their parent meanwhile (orphans.ts): the pool outlives the
// host of its root, its coordinator included.
//
// Also the live half of fencing: a part this peer runs whose record moved it elsewhere at a higher epoch (this host
// was declared dead, then came back without a restart) is stopped here.

export interface ReplacementInit {
  peer: DeployPeer
  clock: Clock
  /** Liveness as the failure detector says it: a suspect is still live; only `dead` moves its VMs. */
  isLive: (peer: string) => boolean
  /** The members a record write goes to (this peer included or not): the live ones, suspects too. */
  members: () => string[]
  /** The mesh's hosts (names, capacity, load) to rank candidates from. */
  hosts: () => readonly MeshHostView[]
  /** The base images a host announces (`image:NAME`): a VM whose image a host holds costs less there. Default none. */
  imagesOf?: (host: MeshHostView) => string[]
  log: (message: string, context: Record<string, unknown>) => void
  /** How often every pool is looked at besides membership changes (a placement that found no room is retried). Default 2 s. */
  sweepMs?: number
  /** Lease of a re-placement's prepare. Default 30 s. */
  leaseMs?: number
}

interface PoolDuty { deployId: string, record: PoolRecord, role: PoolCoordinatorRole }

const RETRY_FIRST_MS = 250
/** How long a reservation counts against its host here before the host's own announcement carries it. */
const PENDING_MS = 5000


export class LiveReplacement {
  readonly #i: ReplacementInit
  readonly #duties = new Map<string, PoolDuty>()
  #timer: Timer | undefined
  #sweeping: Promise<void> | undefined
  #again = false
  #stopped = false
  #retryTimer: Timer | undefined
  #retryMs = RETRY_FIRST_MS
  /** Reservations asked for in the last moments, not yet in the hosts' announced load: parallel picks spread. */
  #pending: Array<{ peer: string, memoryMiB: number, vcpus: number, until: number }> = []

  constructor (init: ReplacementInit) {
    this.#i = init
  }

  start (): void {
    const tick = (): void => {
      if (this.#stopped) return
      void this.poke().finally(() => { if (!this.#stopped) this.#timer = this.#i.clock.setTimeout(tick, this.#i.sweepMs ?? 2000) })
    }
    this.#timer = this.#i.clock.setTimeout(tick, this.#i.sweepMs ?? 2000)
  }

  stop (): void {
    this.#stopped = true
    this.#timer?.cancel()
    this.#retryTimer?.cancel()
  }

  /** What this peer answers, as a pool's coordinator, to a part whose parent's peer stopped pinging (orphans.ts). */
  readonly orphanPolicy: OrphanPolicy = async report => {
    const decision = orphanDecision(this.#i.peer.registry.get(report.pool), report, this.#i.isLive)
    this.#i.log('orphan reported', { ...report, decision })
    return decision
  }

  /** Every outcome of the runs this peer coordinated (logs and tests). */
  outcomes (pool: string): PoolCoordinatorRole['outcomes'] { return this.#duties.get(pool)?.role.outcomes ?? [] }

  /** A membership change (or the sweep): look at every pool now. Sweeps never overlap; one more follows a busy one. */
  poke (): Promise<void> {
    if (this.#sweeping !== undefined) { this.#again = true; return this.#sweeping }
    this.#sweeping = (async () => {
      do {
        this.#again = false
        await this.#sweep()
      } while (this.#again && !this.#stopped)
    })().finally(() => { this.#sweeping = undefined })
    return this.#sweeping
  }

  /** Every pool at once: a dead host's VMs of one pool do not wait for another pool's re-placement. */
  async #sweep (): Promise<void> {
    const { peer } = this.#i
    const results = await Promise.all(peer.registry.list().map(async r => {
      if (!isActive(r) || r.state !== 'running' || (r.vms === undefined && r.partPlans === undefined)) { this.#duties.delete(r.pool); return true }
      await this.#fenceLocal(r)
      if (!participantsOf(r).includes(peer.self)) return true
      let clean = true
      if (r.partPlans !== undefined) {
        try {
          const o = await replaceLostParts(this.#parts(), r.pool)
          for (const x of o.replaced) this.#i.log('re-placed', { pool: r.pool, path: x.path, from: x.from, to: x.to, epoch: x.epoch })
          clean = !o.retry
          if (o.failed !== undefined) return true
        } catch (err) {
          this.#i.log('part re-placement interrupted; the next sweep goes on', { pool: r.pool, error: (err as Error).message })
          clean = false
        }
      }
      if (r.vms === undefined) return clean
      const duty = this.#duty(r)
      refresh(duty.record, r)
      try {
        const o = await duty.role.onMembershipChange()
        for (const x of o.replaced) this.#i.log('re-placed', { pool: r.pool, path: x.vmId, from: x.from, to: x.to, epoch: x.epoch })
        for (const x of o.failed) this.#i.log('not re-placed', { pool: r.pool, path: x.vmId, host: x.host, error: x.error.message })
        if (o.phasesMs !== undefined) this.#i.log('re-placement run', { pool: r.pool, replaced: o.replaced.length, failed: o.failed.length, ms: o.phasesMs })
        // A refusal by a host that has not yet learnt the death is no news for the record: it passes in a moment.
        await this.#noteUnplaced(r.pool, o.failed.filter(f => f.error.name !== 'PinnedVmLostError' && !f.error.message.includes(ALIVE_HERE)))
        return clean && o.failed.every(f => f.error.name === 'PinnedVmLostError')
      } catch (err) {
        this.#i.log('re-placement interrupted; the next sweep goes on', { pool: r.pool, error: (err as Error).message })
        return false
      }
    }))
    this.#retrySoon(results.every(ok => ok))
  }

  /**
   * A VM that found no host is tried again soon rather than at the next sweep: hosts learn a death a little after
   * the coordinator does, and refuse to take a VM from a host they still hold alive. Backs off to the sweep period.
   */
  #retrySoon (clean: boolean): void {
    const sweepMs = this.#i.sweepMs ?? 2000
    if (clean) { this.#retryMs = RETRY_FIRST_MS; return }
    if (this.#retryTimer !== undefined || this.#stopped || this.#retryMs >= sweepMs) return
    this.#retryTimer = this.#i.clock.setTimeout(() => { this.#retryTimer = undefined; void this.poke() }, this.#retryMs)
    this.#retryMs *= 2
  }

  #parts (): PartReplacerInit {
    const { peer, isLive, log } = this.#i
    return { peer, isLive, log, leaseMs: this.#i.leaseMs ?? 30_000, hostName: p => this.#hostName(p), write: async (pool, change) => { await this.#write(pool, change) } }
  }

  #duty (r: PoolRecordView): PoolDuty {
    const old = this.#duties.get(r.pool)
    if (old !== undefined && old.deployId === r.deployId) return old
    const { peer } = this.#i
    const pool = r.pool
    const record = new PoolRecord(pool)
    const random = seededRandom(Number(hrwScore(pool, peer.self) & 0xffffffffn))
    const vmOf = (path: string): PoolVmView | undefined => peer.registry.get(pool)?.vms?.find(v => v.path === path)
    // One write of the pool's record for any number of VM updates: replicas take the whole record, newest version.
    const replicateAll = async (us: readonly VmRecord[]): Promise<void> => {
      for (const u of us) record.apply(u)
      await this.#write(pool, old => patchParts(old, us, p => this.#hostName(p)))
    }
    const role = new PoolCoordinatorRole({
      self: peer.self,
      record,
      isLive: this.#i.isLive,
      specOf: path => { const h = vmOf(path)?.hosts; return h !== undefined ? { hosts: h } : {} },
      placer: {
        reserveOne: async (demand, spec, epoch, o = {}) => await this.#reserve(record, demand, spec, epoch, o.exclude ?? new Set(), random),
        commitAll: async placed => await this.#commit(pool, placed)
      },
      replicate: async u => { await replicateAll([u]) },
      replicateAll,
      replicateParticipants: async peers => {
        for (const p of peers) record.addParticipant(p)
        await this.#write(pool, old => ({ ...old, participants: [...new Set([...participantsOf(old), ...peers])].sort() }))
      }
    }, {})
    const duty = { deployId: r.deployId, record, role }
    this.#duties.set(pool, duty)
    return duty
  }

  /**
   * Writes the next version of a live pool's record to every member, and waits only for the pool's live
   * participants: they are the successors that must find a reservation before its commit; the other members merge
   * it when it arrives (a newer version replaces an older one whatever the order), and a peer that missed it pulls
   * the registry when it joins. A pool that ended meanwhile stops the run.
   */
  async #write (pool: string, change: (old: PoolRecordView) => Omit<PoolRecordView, 'version'>): Promise<void> {
    const { peer, isLive } = this.#i
    const cur = peer.registry.get(pool)
    if (cur === undefined || !isActive(cur)) throw new Error(`pool ${pool} ended`)
    const r: PoolRecordView = { ...change(cur), version: cur.version + 1 }
    peer.registry.merge(r)
    const waitFor = new Set(participantsOf(r).filter(p => p !== peer.self && isLive(p)))
    const put = async (to: string): Promise<void> => {
      try {
        await peer.request(to, { type: 'registry-put', record: r })
      } catch (err) {
        this.#i.log('pool record not written to a member', { pool, peer: to, version: r.version, error: (err as Error).message })
      }
    }
    const sends = this.#i.members().filter(p => p !== peer.self).map(p => ({ p, done: put(p) }))
    await Promise.all(sends.filter(x => waitFor.has(x.p)).map(x => x.done))
  }

  #hostName (peer: string): string {
    return this.#i.hosts().find(h => h.peerId === peer)?.hostNames[0] ?? peer
  }

  /** A reservation is the re-placed part prepared on its new host, whose admission judges it at `epoch`. */
  async #reserve (record: PoolRecord, demand: VmDemand, spec: SchedulerSpec, epoch: number, exclude: ReadonlySet<string>, random: ReturnType<typeof seededRandom>): Promise<PlacedVm> {
    const { peer } = this.#i
    const pool = record.pool
    const vm = peer.registry.get(pool)?.vms?.find(v => v.path === demand.vmId)
    if (vm?.plan === undefined) throw new ReservationRefusedError(pool, demand.vmId, [{ host: '-', reason: 'no plan in the pool record' }])
    const imagesOf = this.#i.imagesOf
    const view = meshCandidates(this.#i.hosts(), imagesOf !== undefined ? { imagesOf } : {})
    const states = this.#withPending(view.states.filter(s => s.peer !== undefined && !exclude.has(s.peer)))
    const opts = { random }
    // The unusable hosts only make the reason exact ("declared dead" rather than "not in the mesh").
    const ranking = rank(demand, spec, states, opts, view.unavailable)
    const order = chooseOrder(ranking, opts)
    if (order.length === 0) throw new NoHostFitsError(pool, demand.vmId, ranking.candidates, ranking.failures)
    const refusals: Array<{ host: string, reason: string }> = []
    const deployId = replacementId(pool, demand.vmId, epoch)
    for (const cand of order) {
      const to = states.find(s => s.host === cand.host)?.peer as string
      // Under its parent where that runs now: the parent's part may have been re-placed too (replace-parts.ts).
      const parentPeer = currentParentPeer(peer.registry.get(pool), vm.plan.parentPath) ?? vm.plan.parentPeer
      const part = { ...vm.plan, host: cand.host, peer: to, ...(parentPeer !== undefined ? { parentPeer } : {}), config: { ...vm.plan.config, sfProcessHost: cand.host } }
      // Counted before the request goes: the other VMs of this run rank while it is in flight.
      const mine = { peer: to, memoryMiB: demand.memoryMiB, vcpus: demand.vcpus, until: this.#i.clock.now() + PENDING_MS }
      this.#pending.push(mine)
      try {
        const res = await peer.request(to, {
          type: 'prepare', deployId, pool, coordinator: peer.self, parts: [part], participants: [...new Set([...record.participants(), to])].sort(),
          leaseMs: this.#i.leaseMs ?? 30_000, ...(vm.auth !== undefined ? { auth: vm.auth } : {}), replace: { epoch }
        })
        if (res.type === 'prepared' && res.ok) return { vmId: demand.vmId, host: to, requestId: deployId, epoch, cost: cand.cost }
        this.#pending = this.#pending.filter(p => p !== mine)
        refusals.push({ host: cand.host, reason: res.type === 'prepared' && !res.ok ? res.reason : `unexpected answer ${res.type}` })
      } catch (err) {
        this.#pending = this.#pending.filter(p => p !== mine)
        refusals.push({ host: cand.host, reason: (err as Error).message })
      }
    }
    throw new ReservationRefusedError(pool, demand.vmId, refusals)
  }

  #withPending (states: HostState[]): HostState[] {
    const now = this.#i.clock.now()
    this.#pending = this.#pending.filter(p => p.until > now)
    if (this.#pending.length === 0) return states
    return states.map(s => {
      const mine = this.#pending.filter(p => p.peer === s.peer)
      if (mine.length === 0) return s
      const add = mine.reduce((a, p) => ({ memoryMiB: a.memoryMiB + p.memoryMiB, vcpus: a.vcpus + p.vcpus }), { memoryMiB: 0, vcpus: 0 })
      return { ...s, used: { memoryMiB: s.used.memoryMiB + add.memoryMiB, vcpus: s.used.vcpus + add.vcpus }, domains: s.domains + mine.length }
    })
  }

  async #commit (pool: string, placed: readonly PlacedVm[]): Promise<PlacedVm[]> {
    const lost: PlacedVm[] = []
    const refused: VmRecord[] = []
    const record = this.#duties.get(pool)?.record
    await Promise.all(placed.map(async p => {
      try {
        const res = await this.#i.peer.requestUntilDone(p.host, { type: 'commit', deployId: p.requestId, pool })
        if (res.type !== 'committed' || !res.ok) {
          lost.push(p)
          const reason = res.type === 'committed' && !res.ok ? res.reason : `unexpected answer ${res.type}`
          this.#i.log('re-placement commit refused', { pool, path: p.vmId, peer: p.host, reason })
          // The host answered: its deploy of the part failed (an image no peer could send, a hypervisor error) and
          // it gave its reservation back, so this deploy id can never commit. Recorded failed with the host's
          // reason, not left 're-placing' to be committed again in vain at every sweep.
          const cur = record?.vms().find(v => v.vmId === p.vmId)
          if (cur !== undefined) refused.push({ ...cur, host: p.host, epoch: p.epoch, requestId: p.requestId, state: 'failed', reason: `re-placed on ${this.#hostName(p.host)}, where its deploy failed: ${reason}` })
        }
      } catch (err) {
        lost.push(p)
        this.#i.log('re-placement commit failed', { pool, path: p.vmId, peer: p.host, error: (err as Error).message })
      }
    }))
    if (refused.length > 0 && record !== undefined) {
      for (const u of refused) record.apply(u)
      await this.#write(pool, old => patchParts(old, refused, h => this.#hostName(h)))
    }
    return lost
  }

  /**
   * A scheduled VM that found no host stays `lost` and is tried again at every sweep (a host holding its image may
   * come back); the record says why meanwhile, so that `status` from any peer shows it. Written only when it changed.
   */
  async #noteUnplaced (pool: string, failed: ReadonlyArray<{ vmId: string, error: Error }>): Promise<void> {
    const cur = this.#i.peer.registry.get(pool)
    const why = new Map(failed.map(f => [f.vmId, `not re-placed yet, tried again at every change: ${f.error.message}`]))
    if (cur === undefined || !cur.parts.some(p => why.has(p.path) && p.placement !== 'failed' && p.reason !== why.get(p.path))) return
    await this.#write(pool, old => ({ ...old, parts: old.parts.map(p => why.has(p.path) && p.placement !== 'failed' ? { ...p, reason: why.get(p.path)! } : p) }))
  }

  /** Stops this peer's copy of a part the record placed elsewhere at a higher epoch. */
  async #fenceLocal (r: PoolRecordView): Promise<void> {
    const { peer } = this.#i
    for (const part of peer.participant.lifecycle.parts(r.pool)) {
      if (part.state !== 'running') continue
      const cur = r.parts.find(p => p.path === part.plan.path)
      if (cur === undefined || cur.peer === peer.self || (cur.epoch ?? 1) <= part.epoch) continue
      this.#i.log('fenced: part placed elsewhere at a higher epoch', { pool: r.pool, path: cur.path, epoch: part.epoch, now: cur.epoch, at: cur.peer })
      await peer.participant.lifecycle.terminate(r.pool, cur.path, { type: 'abnormal', reason: `fenced: placed on ${cur.host} at epoch ${cur.epoch ?? 1}`, path: cur.path }, { report: false, cascade: false })
      peer.participant.lifecycle.forget(r.pool, [cur.path])
    }
  }
}

/** The registry's view of the pool as the scheduler's placement record (merged: epochs and states only advance). */
function refresh (record: PoolRecord, r: PoolRecordView): void {
  for (const p of participantsOf(r)) record.addParticipant(p)
  for (const vm of r.vms ?? []) {
    const cur = r.parts.find(p => p.path === vm.path)
    if (cur === undefined) continue
    const epoch = cur.epoch ?? 1
    record.apply({
      vmId: vm.path,
      demand: { pool: r.pool, vmId: vm.path, memoryMiB: vm.memoryMiB, vcpus: vm.vcpus, ...(vm.image !== undefined ? { image: vm.image } : {}), ...(vm.driver !== undefined ? { driver: vm.driver } : {}), ...(vm.requires !== undefined ? { requires: vm.requires } : {}) },
      host: cur.peer,
      epoch,
      state: cur.placement ?? 'running',
      pinned: vm.pinned,
      requestId: replacementId(r.pool, vm.path, epoch),
      ...(cur.reason !== undefined ? { reason: cur.reason } : {})
    })
  }
}

function patchParts (old: PoolRecordView, us: readonly VmRecord[], hostName: (peer: string) => string): Omit<PoolRecordView, 'version'> {
  const byPath = new Map(us.map(u => [u.vmId, u]))
  const parts = old.parts.map(p => {
    const u = byPath.get(p.path)
    if (u === undefined) return p
    const { reason: _, ...rest } = p
    return { ...rest, peer: u.host, host: u.host === p.peer ? p.host : hostName(u.host), epoch: u.epoch, placement: u.state, ...(u.reason !== undefined && u.state === 'failed' ? { reason: u.reason } : {}) }
  })
  return { ...old, parts }
}
