// Every pool has a coordinator: a role, not a server. It is the first live peer among the pool's participants in
// rendezvous-hash (HRW) order, so every peer computes the same answer from the same membership, and when it dies
// the next one in the order takes over with no election round-trip. Only the coordinator re-places the VMs of a
// dead host; its writes go to every participant's replica of the pool record before the hosts commit them.

import { createHash } from 'node:crypto'
import type { PoolRecord, VmRecord } from './pool-record.ts'
import type { Placer } from './placer.ts'
import { PinnedVmLostError } from './errors.ts'
import type { SchedulerSpec } from './types.ts'

/** HRW weight of a peer for a pool: the first 8 bytes of sha256(pool NUL peer). */
export function hrwScore (pool: string, peer: string): bigint {
  return createHash('sha256').update(pool).update('\u0000').update(peer).digest().readBigUInt64BE(0)
}

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
      } while (this.#again)
      return total
    }
    this.#running = run().finally(() => { this.#running = undefined })
    return this.#running
  }

  /**
   * Re-places every VM whose host is dead: epoch + 1, from its saved image when there is one. Pinned VMs are
   * reported failed. A VM left 'reserved' by a previous coordinator on a live host is committed, not moved.
   */
  async replaceLost (): Promise<ReplacementOutcome> {
    const { record, placer, isLive, replicate } = this.#c
    const out: ReplacementOutcome = { replaced: [], failed: [] }
    const dead = new Set(record.vms().filter(v => !isLive(v.host)).map(v => v.host))
    for (const v of record.vms()) {
      // A participant ranked higher came back alive: it coordinates from now on, this run stops here.
      if (!this.isCoordinator()) break
      if (v.state === 'failed') continue
      if (isLive(v.host)) {
        if (v.state === 'reserved') await this.#finish(v)
        continue
      }
      if (v.pinned) {
        const error = new PinnedVmLostError(record.pool, v.vmId, v.host)
        await replicate({ ...v, state: 'failed', reason: error.message })
        out.failed.push({ vmId: v.vmId, host: v.host, error })
        continue
      }
      // A saved image lives in the warehouse (saved there at termination), so every host can fetch it.
      const demand = v.savedImage !== undefined ? { ...v.demand, image: v.savedImage, imageInWarehouse: true } : v.demand
      const epoch = v.epoch + 1
      let placed
      try {
        placed = await placer.reserveOne(demand, this.#c.specOf?.(v.vmId) ?? this.#spec, epoch, { exclude: dead })
      } catch (error) {
        // Nothing fits now: report it; the next membership change (a host returning) tries again.
        out.failed.push({ vmId: v.vmId, host: v.host, error: error as Error })
        continue
      }
      const next: VmRecord = { ...v, host: placed.host, epoch, state: 'reserved', requestId: placed.requestId }
      // Written to the replicas before the commit: a successor finds it and commits it instead of placing twice.
      await replicate(next)
      await this.#finish(next)
      out.replaced.push({ vmId: v.vmId, from: v.host, to: placed.host, epoch, source: v.savedImage !== undefined ? 'saved' : 'base' })
    }
    // The hosts that received VMs take part in the pool from now on (and may coordinate it later).
    const joined = [...new Set(out.replaced.map(r => r.to))].filter(h => !record.participants().includes(h))
    if (joined.length > 0) await this.#c.replicateParticipants(joined)
    if (out.replaced.length > 0 || out.failed.length > 0) this.outcomes.push(out)
    return out
  }

  async #finish (v: VmRecord): Promise<void> {
    const lost = await this.#c.placer.commitAll([{ vmId: v.vmId, host: v.host, requestId: v.requestId, epoch: v.epoch, cost: 0 }])
    if (lost.length === 0) await this.#c.replicate({ ...v, state: 'running' })
  }
}
