// A simulated scheduling mesh: SimMesh hosts, deploying peers that place pools with the real Placer, the pools'
// replicated records, and the real coordinator role reacting to every death the failure detector declares.

import { PoolCoordinatorRole, coordinatorOf } from '../../node/scheduler/coordinator.ts'
import { rejoin } from '../../node/scheduler/fencing.ts'
import { Placer } from '../../node/scheduler/placer.ts'
import type { PlacedVm } from '../../node/scheduler/placer.ts'
import { PoolRecord } from '../../node/scheduler/pool-record.ts'
import type { VmRecord } from '../../node/scheduler/pool-record.ts'
import { seededRandom } from '../../node/scheduler/random.ts'
import type { SchedulerSpec, VmDemand } from '../../node/scheduler/types.ts'
import { SimClock } from './sim-clock.ts'
import { SimMesh } from './sim-mesh.ts'
import type { SimHost, SimMeshInit } from './sim-mesh.ts'
import type { PoolJob, Workload } from './workload.ts'

export interface ClusterOptions {
  seed: number
  latencyMs?: [number, number]
  gossipMs?: number
  detectionMs?: number
  choices?: number
  topFraction?: number
  /** When false, a healed host announces itself alive without fencing (the control that must show duplicates). */
  fencing?: boolean
  /**
   * Virtual time a deployer spends deploying a pool after its reservations are committed (VMs booting) before it
   * places its next pool: uniform in this range, ms. Default [0, 0].
   */
  poolDeployMs?: [number, number]
  /** Hosts announce early when their share moved by this much (0: only periodically). Default 0.1. */
  announceChange?: number
}

export interface PoolOutcome { pool: string, deployer: string, placed: PlacedVm[], error?: Error, doneAt: number }

export class Cluster {
  readonly clock = new SimClock()
  readonly mesh: SimMesh
  readonly placers = new Map<string, Placer>()
  /** pool -> peer -> replica */
  readonly replicas = new Map<string, Map<string, PoolRecord>>()
  readonly roles = new Map<string, PoolCoordinatorRole>()
  readonly outcomes: PoolOutcome[] = []
  /** Virtual time at which each VM (pool/vmId) last reached 'running' at a new epoch. */
  readonly runningAt = new Map<string, number>()
  /** Copies stopped by fencing, and duplicates the invariant checker saw among live hosts. */
  readonly fenced: Array<{ host: string, pool: string, vmId: string }> = []
  readonly duplicates: string[] = []
  readonly #opts: ClusterOptions
  readonly #specs = new Map<string, SchedulerSpec>()

  constructor (workload: Workload, opts: ClusterOptions) {
    this.#opts = opts
    const init: SimMeshInit = { clock: this.clock, random: seededRandom(opts.seed ^ 0x5eed) }
    if (opts.latencyMs) init.latencyMs = opts.latencyMs
    if (opts.gossipMs !== undefined) init.gossipMs = opts.gossipMs
    if (opts.detectionMs !== undefined) init.detectionMs = opts.detectionMs
    if (opts.announceChange !== undefined) init.announceChange = opts.announceChange
    this.mesh = new SimMesh(init)
    for (const h of workload.hosts) this.mesh.addHost(h)
    this.mesh.onDeclared = () => { this.#membershipChanged() }
    this.mesh.onHealed = h => { void this.#healed(h) }
  }

  placerFor (peer: string): Placer {
    let p = this.placers.get(peer)
    if (!p) {
      let seed = this.#opts.seed
      for (let i = 0; i < peer.length; i++) seed = Math.imul(seed ^ peer.charCodeAt(i), 16777619)
      p = new Placer({ view: this.mesh.viewFor(peer), transport: this.mesh.transportFor(peer), clock: this.clock, random: seededRandom(seed) },
        { self: peer, choices: this.#opts.choices, topFraction: this.#opts.topFraction })
      this.placers.set(peer, p)
    }
    return p
  }

  /** Deploys pools: each deployer places its pools one after the other; deployers run concurrently. */
  deploy (pools: readonly PoolJob[], spec: SchedulerSpec = {}): Promise<void> {
    const byDeployer = new Map<string, PoolJob[]>()
    for (const p of pools) {
      const l = byDeployer.get(p.deployer); if (l) l.push(p); else byDeployer.set(p.deployer, [p])
      this.#specs.set(p.pool, spec)
    }
    const runs = [...byDeployer].sort(([a], [b]) => a < b ? -1 : 1).map(async ([deployer, jobs]) => {
      const placer = this.placerFor(deployer)
      await this.clock.sleep(this.mesh.random.next() * 5)
      for (const job of jobs) {
        try {
          const placed = await placer.reserveAll(job.vms, spec)
          const lost = await placer.commitAll(placed)
          if (lost.length > 0) throw new Error(`${job.pool}: ${lost.length} reservations expired before commit`)
          this.#recordPool(job, deployer, placed)
          this.outcomes.push({ pool: job.pool, deployer, placed, doneAt: this.clock.now() })
          const [lo, hi] = this.#opts.poolDeployMs ?? [0, 0]
          if (hi > 0) await this.clock.sleep(lo + this.mesh.random.next() * (hi - lo))
        } catch (error) {
          this.outcomes.push({ pool: job.pool, deployer, placed: [], error: error as Error, doneAt: this.clock.now() })
        }
      }
    })
    return Promise.all(runs).then(() => {})
  }

  #recordPool (job: PoolJob, deployer: string, placed: PlacedVm[]): void {
    const demand = new Map(job.vms.map(v => [v.vmId, v]))
    const records: VmRecord[] = placed.map(p => ({
      vmId: p.vmId, demand: demand.get(p.vmId) as VmDemand, host: p.host, epoch: p.epoch, state: 'running', pinned: false, requestId: p.requestId
    }))
    const participants = [deployer, ...new Set(placed.map(p => p.host))]
    const reps = new Map<string, PoolRecord>()
    for (const peer of participants) {
      const r = new PoolRecord(job.pool, participants)
      for (const rec of records) r.apply(rec)
      reps.set(peer, r)
    }
    this.replicas.set(job.pool, reps)
    for (const rec of records) this.runningAt.set(`${job.pool}/${rec.vmId}`, this.clock.now())
  }

  /** Adds a VM pinned to a host (sfProcessHost) to a pool's record, as the deploy of a pinned component would. */
  pin (pool: string, vm: VmDemand, host: string): void {
    const r = this.mesh.hosts.get(host)?.admission.reserve({ requestId: `${pool}/${vm.vmId}@1`, pool, vmId: vm.vmId, memoryMiB: vm.memoryMiB, vcpus: vm.vcpus, epoch: 1 })
    if (!r?.admitted) throw new Error(`cannot pin ${vm.vmId} on ${host}`)
    this.mesh.hosts.get(host)?.admission.commit(r.requestId)
    this.mesh.hosts.get(host)?.running.set(r.requestId, { pool, vmId: vm.vmId, epoch: 1, requestId: r.requestId })
    const rec: VmRecord = { vmId: vm.vmId, demand: vm, host, epoch: 1, state: 'running', pinned: true, requestId: r.requestId }
    const reps = this.replicas.get(pool)
    if (!reps) throw new Error(`no pool ${pool}`)
    if (!reps.has(host)) {
      const src = reps.values().next().value as PoolRecord
      const r = new PoolRecord(pool, src.participants())
      for (const v of src.vms()) r.apply(v)
      reps.set(host, r)
    }
    for (const rep of reps.values()) { rep.addParticipant(host); rep.apply(rec) }
  }

  coordinatorOf (pool: string): string | undefined {
    const any = this.replicas.get(pool)?.values().next().value
    return any ? coordinatorOf(pool, any.participants(), this.mesh.isLive) : undefined
  }

  /**
   * True when no coordinator has work left: every VM of every pool is running (or failed) on a host the mesh
   * considers alive, in its coordinator's replica, and no role is in the middle of a run.
   */
  settled (): boolean {
    for (const r of this.roles.values()) if (r.busy) return false
    // Recomputed only when a copy, a liveness or a replica changed: this runs after every simulated event.
    const key = `${this.mesh.changes}/${this.#recordChanges}`
    if (this.#settledKey === key) return this.#settled
    this.#settledKey = key
    this.#settled = this.#computeSettled()
    return this.#settled
  }

  #settledKey = ''
  #settled = false
  #recordChanges = 0

  #computeSettled (): boolean {
    for (const [pool, reps] of this.replicas) {
      const c = this.coordinatorOf(pool)
      const rec = (c !== undefined ? reps.get(c) : undefined) ?? (reps.values().next().value as PoolRecord)
      for (const v of rec.vms()) {
        if (v.state === 'failed') continue
        if (v.state !== 'running' || !this.mesh.isLive(v.host)) return false
      }
    }
    return true
  }

  #membershipChanged (): void {
    for (const pool of this.replicas.keys()) this.#maybeCoordinate(pool)
  }

  /**
   * What every participant does on a membership change or a record update: if its own replica says it is the
   * coordinator and some VM needs work, it runs its role. A peer that is down does nothing.
   */
  #maybeCoordinate (pool: string): void {
    const reps = this.replicas.get(pool) as Map<string, PoolRecord>
    for (const [peer, rep] of reps) {
      if (!this.mesh.peerUp(peer) || !this.mesh.isLive(peer)) continue
      if (coordinatorOf(pool, rep.participants(), this.mesh.isLive) !== peer) continue
      const needs = rep.vms().some(v => v.state !== 'failed' && (!this.mesh.isLive(v.host) || v.state === 'reserved'))
      if (needs) void this.#role(pool, peer).onMembershipChange()
    }
  }

  #role (pool: string, peer: string): PoolCoordinatorRole {
    const key = `${pool}\u0000${peer}`
    let role = this.roles.get(key)
    if (role) return role
    const reps = this.replicas.get(pool) as Map<string, PoolRecord>
    let record = reps.get(peer)
    if (!record) {
      const src = [...reps.values()][0]
      record = new PoolRecord(pool, src.participants())
      for (const v of src.vms()) record.apply(v)
      reps.set(peer, record)
    }
    const mine = record
    role = new PoolCoordinatorRole({
      self: peer,
      record: mine,
      placer: this.placerFor(peer),
      isLive: this.mesh.isLive,
      replicate: async (update) => {
        mine.apply(update)
        if (update.state === 'running') this.runningAt.set(`${pool}/${update.vmId}`, this.clock.now())
        await this.#broadcast(pool, peer, mine, r => r.apply(update))
      },
      replicateParticipants: async (peers) => {
        for (const p of peers) mine.addParticipant(p)
        await this.#broadcast(pool, peer, mine, r => { for (const p of peers) r.addParticipant(p) })
        // A new participant may rank first now: it takes over if work is left (it would on receiving the update).
        this.clock.setTimeout(() => this.#maybeCoordinate(pool), 0)
      }
    }, this.#specs.get(pool) ?? {})
    this.roles.set(key, role)
    return role
  }

  /** Sends a replica change to every live participant (a new one gets the whole record first); waits for all. */
  async #broadcast (pool: string, from: string, mine: PoolRecord, change: (r: PoolRecord) => void): Promise<void> {
    this.#recordChanges++
    const reps = this.replicas.get(pool) as Map<string, PoolRecord>
    const targets = new Set([...mine.participants(), ...mine.vms().map(v => v.host)])
    targets.delete(from)
    await Promise.all([...targets].filter(t => this.mesh.isLive(t)).map(t => this.mesh.call(from, t, () => {
      let r = reps.get(t)
      if (!r) {
        r = new PoolRecord(pool, mine.participants())
        for (const v of mine.vms()) r.apply(v)
        reps.set(t, r)
      }
      change(r)
      this.#recordChanges++
    }).catch(() => {})))
  }

  async #healed (h: SimHost): Promise<void> {
    if (this.#opts.fencing === false) { this.mesh.announceAlive(h.host); return }
    const stopped = await rejoin({
      self: h.host,
      admission: h.admission,
      copies: () => [...h.running.values()],
      fetchRecord: async (pool) => {
        const reps = this.replicas.get(pool)
        if (!reps) return undefined
        const any = reps.values().next().value as PoolRecord
        const from = coordinatorOf(pool, any.participants().filter(p => p !== h.host), this.mesh.isLive)
        if (from === undefined) return undefined
        return await this.mesh.call(h.host, from, () => (reps.get(from) ?? any).vms())
      },
      stopCopy: async (copy) => {
        await this.clock.sleep(50) // a destroy takes a moment; the host stays unannounced meanwhile
        h.running.delete(copy.requestId)
        this.mesh.changes++
        this.fenced.push({ host: h.host, pool: copy.pool, vmId: copy.vmId })
      },
      announceAlive: () => { this.mesh.announceAlive(h.host) }
    })
    void stopped
  }

  /** Checks, after every event, that no VM runs twice on hosts the mesh considers alive. */
  watchDuplicates (): void {
    let checked = -1
    this.clock.afterEvent = () => {
      if (checked === this.mesh.changes) return
      checked = this.mesh.changes
      const seen = new Map<string, string>()
      for (const h of this.mesh.hosts.values()) {
        if (!h.declaredLive || !h.reachable) continue
        for (const c of h.running.values()) {
          const k = `${c.pool}/${c.vmId}`
          const other = seen.get(k)
          if (other !== undefined) this.duplicates.push(`${k} on ${other} and ${h.host} at ${this.clock.now().toFixed(1)} ms`)
          else seen.set(k, h.host)
        }
      }
    }
  }

  /** Copies of each VM running anywhere (live or not). */
  copies (): Map<string, string[]> {
    const out = new Map<string, string[]>()
    for (const h of this.mesh.hosts.values()) {
      for (const c of h.running.values()) {
        const k = `${c.pool}/${c.vmId}`
        const l = out.get(k); if (l) l.push(h.host); else out.set(k, [h.host])
      }
    }
    return out
  }
}
