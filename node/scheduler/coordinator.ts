// Every pool has a coordinator: a role, not a server. It is the first live peer among the pool's participants in
// rendezvous-hash (HRW) order, so every peer computes the same answer from the same membership, and when it dies
// the next one in the order takes over with no election round-trip. Only the coordinator re-places the VMs of a
// dead host; its writes go to every participant's replica of the pool record before the hosts commit them.

import { createHash } from 'node:crypto'
import { boundedMemo } from '../../protocol/memo.ts'
import type { PoolRecord, VmRecord } from './pool-record.ts'
import type { Placer } from './placer.ts'
import { PinnedVmLostError } from './errors.ts'
import type { SchedulerSpec } from './types.ts'

/** HRW weight of a peer for a pool: the first 8 bytes of sha256(pool NUL peer). */
export function hrwScore (pool: string, peer: string): bigint {
  return scoreOf(`${pool}\u0000${peer}`)
}

// A pool's coordinator is asked for at every step of its deploys, terminations and re-placements, each time over
// all its participants: one sha256 per pair per question was the entry peer's largest allocation during a 100-VM
// deploy over 20 daemons (simulations/bench/mesh-memory.ts --profile-deploy). The scores never change; a daemon asks
// about its pools' participants, a few thousand pairs at most.
const scoreOf = boundedMemo((key: string): bigint => createHash('sha256').update(key).digest().readBigUInt64BE(0), 20_000)

/** Participants in HRW order for the pool, highest weight first (peer id breaks the improbable tie). */
export function hrwOrder (pool: string, participants: readonly string[]): string[] {
  return [...new Set(participants)]
    .map(p => ({ p, s: hrwScore(pool, p) }))
    .sort((a, b) => a.s < b.s ? 1 : a.s > b.s ? -1 : a.p < b.p ? -1 : a.p > b.p ? 1 : 0)
    .map(x => x.p)
}

/** The pool's coordinator: the first live participant in HRW order; undefined when none is live. */
export function coordinatorOf (pool: string, participants: readonly string[], isLive: (peer: string) => boolean): string | undefined {
  return hrwOrder(pool, participants).find(isLive)
}

export interface ReplacementOutcome {
  replaced: Array<{ vmId: string, from: string, to: string, epoch: number, source: 'base' | 'saved' }>
  failed: Array<{ vmId: string, host: string, error: Error }>
  /** Wall time of the run's steps (reservations, record write, commits, all): where a slow re-placement spent it. */
  phasesMs?: { reserve: number, record: number, commit: number, total: number }
}

export interface CoordinatorComponents {
  /** This peer's id. */
  self: string
  record: PoolRecord
  /** Reserves a host for one VM and commits it: the reserve stream in simulation, a prepare/commit in the daemon. */
  placer: Pick<Placer, 'reserveOne' | 'commitAll'>
  /** The Scheduler of one VM, when the VMs of the pool do not all share the role's spec. */
  specOf?: (vmId: string) => SchedulerSpec
  /** Liveness from the mesh's failure detector (hosts and peers share ids here: one daemon per host). */
  isLive: (peer: string) => boolean
  /**
   * Writes an update to every live participant's replica (and this one's); resolves once they hold it.
   * May reject when the network fails; the coordinator then stops and the next trigger retries.
   */
  replicate: (update: VmRecord) => Promise<void>
  /** Several updates in one write (the daemon's pool record is one versioned document); default: `replicate` each. */
  replicateAll?: (updates: readonly VmRecord[]) => Promise<void>
  /** Adds participants to every live replica (and this one's); same contract as `replicate`. */
  replicateParticipants: (peers: readonly string[]) => Promise<void>
}

/**
 * The re-placement duty of one peer for one pool. Every participant runs one; `onMembershipChange` does nothing
 * unless this peer is the coordinator. Runs never overlap: a change during a run triggers one more run after it.
 */
export class PoolCoordinatorRole {
  readonly #c: CoordinatorComponents
  readonly #spec: SchedulerSpec
  #running: Promise<ReplacementOutcome> | undefined
  #again = false
  /** Every outcome of a run that did something (the daemon logs them, tests read them). */
  readonly outcomes: ReplacementOutcome[] = []

  constructor (components: CoordinatorComponents, spec: SchedulerSpec) {
    this.#c = components
    this.#spec = spec
  }

  /** True while a run is in progress. */
  get busy (): boolean { return this.#running !== undefined }

  isCoordinator (): boolean {
    const { record, isLive, self } = this.#c
    return coordinatorOf(record.pool, record.participants(), isLive) === self
  }

  /** Called by the mesh adapter on every death or return. */
  onMembershipChange (): Promise<ReplacementOutcome> {
    if (this.#running) { this.#again = true; return this.#running }
    const run = async (): Promise<ReplacementOutcome> => {
      const total: ReplacementOutcome = { replaced: [], failed: [] }
      do {
        this.#again = false
        if (!this.isCoordinator()) break
        const o = await this.replaceLost()
        total.replaced.push(...o.replaced); total.failed.push(...o.failed)
        if (o.phasesMs !== undefined) total.phasesMs = o.phasesMs
      } while (this.#again)
      return total
    }
    this.#running = run().finally(() => { this.#running = undefined })
    return this.#running
  }

  /**
   * Re-places every VM whose host is dead: epoch + 1, from its saved image when there is one. Pinned VMs are
   * reported failed. A VM left 'reserved' by a previous coordinator on a live host is committed, not moved.
   * All the lost VMs move at once: reservations in parallel, one record write of them all (before any commit, so a
   * successor commits them instead of placing twice), commits in parallel, one record write of the result. A run
   * costs a few round trips whatever the number of VMs, where one VM after the other cost four each.
   */
  async replaceLost (): Promise<ReplacementOutcome> {
    const { record, placer, isLive } = this.#c
    const out: ReplacementOutcome = { replaced: [], failed: [] }
    // A participant ranked higher came back alive: it coordinates from now on.
    if (!this.isCoordinator()) return out
    const t0 = performance.now()
    const dead = new Set(record.vms().filter(v => !isLive(v.host)).map(v => v.host))
    const unfinished: VmRecord[] = []
    const lost: VmRecord[] = []
    const pinnedLost: VmRecord[] = []
    for (const v of record.vms()) {
      if (v.state === 'failed') continue
      if (isLive(v.host)) { if (v.state === 'reserved') unfinished.push(v); continue }
      if (v.pinned) pinnedLost.push(v)
      else lost.push(v)
    }
    if (unfinished.length === 0 && lost.length === 0 && pinnedLost.length === 0) return out
    const pinnedFailed = pinnedLost.map(v => {
      const error = new PinnedVmLostError(record.pool, v.vmId, v.host)
      out.failed.push({ vmId: v.vmId, host: v.host, error })
      return { ...v, state: 'failed' as const, reason: error.message }
    })
    const placements = await Promise.all(lost.map(async v => {
      // A saved image lives in the warehouse (saved there at termination), so every host can fetch it.
      const demand = v.savedImage !== undefined ? { ...v.demand, image: v.savedImage, imageInWarehouse: true } : v.demand
      const epoch = v.epoch + 1
      try {
        const placed = await placer.reserveOne(demand, this.#c.specOf?.(v.vmId) ?? this.#spec, epoch, { exclude: dead })
        return { ...v, host: placed.host, epoch, state: 'reserved' as const, requestId: placed.requestId }
      } catch (error) {
        // Nothing fits now: report it; the next membership change (a host returning) tries again.
        out.failed.push({ vmId: v.vmId, host: v.host, error: error as Error })
        return undefined
      }
    }))
    const reserved = placements.filter(p => p !== undefined)
    const t1 = performance.now()
    // Written to the replicas before the commit: a successor finds them and commits them instead of placing twice.
    await this.#replicateAll([...pinnedFailed, ...reserved])
    const t2 = performance.now()
    const toCommit = [...unfinished, ...reserved]
    const lostCommits = new Set((await placer.commitAll(toCommit.map(v => ({ vmId: v.vmId, host: v.host, requestId: v.requestId, epoch: v.epoch, cost: 0 })))).map(p => p.vmId))
    const t3 = performance.now()
    const committed = toCommit.filter(v => !lostCommits.has(v.vmId))
    for (const v of reserved) {
      if (lostCommits.has(v.vmId)) continue
      const from = lost.find(l => l.vmId === v.vmId) as VmRecord
      out.replaced.push({ vmId: v.vmId, from: from.host, to: v.host, epoch: v.epoch, source: from.savedImage !== undefined ? 'saved' : 'base' })
    }
    // The hosts that received VMs take part in the pool from now on (and may coordinate it later).
    const joined = [...new Set(out.replaced.map(r => r.to))].filter(h => !record.participants().includes(h))
    await Promise.all([
      this.#replicateAll(committed.map(v => ({ ...v, state: 'running' as const }))),
      joined.length > 0 ? this.#c.replicateParticipants(joined) : undefined
    ])
    out.phasesMs = { reserve: Math.round(t1 - t0), record: Math.round(t2 - t1), commit: Math.round(t3 - t2), total: Math.round(performance.now() - t0) }
    if (out.replaced.length > 0 || out.failed.length > 0) this.outcomes.push(out)
    return out
  }

  async #replicateAll (updates: readonly VmRecord[]): Promise<void> {
    if (updates.length === 0) return
    const { replicateAll, replicate } = this.#c
    if (replicateAll !== undefined) await replicateAll(updates)
    else await Promise.all(updates.map(async u => await replicate(u)))
  }
}
