// The deploying peer's side of scheduling: place every scheduled VM of a pool by asking hosts for reservations,
// falling back along the ranking when a host refuses, all or nothing. The transport is a seam: the libp2p
// reserve/release stream in the daemon, an in-memory network with delays in the simulation.

import type { Clock } from '../seams/clock.ts'
import type { CostModel } from './cost.ts'
import { HostUnreachableError, NoHostFitsError, ReservationRefusedError } from './errors.ts'
import type { HostView } from './host-view.ts'
import { placementOrder, rank, chooseOrder } from './placement.ts'
import type { Unavailable } from './placement.ts'
import type { Random } from './random.ts'
import type { CommitAnswer, ReserveAnswer, ReserveRequest, SchedulerSpec, VmDemand } from './types.ts'

/**
 * How a peer talks to hosts about reservations. Every method may take as long as the network does; it rejects with
 * HostUnreachableError when the host cannot be reached in time, and with the signal's reason when aborted.
 * A reserve that rejected may still have been admitted: the caller releases it (release is idempotent).
 */
export interface ReservationTransport {
  reserve (host: string, req: ReserveRequest, options?: { signal?: AbortSignal }): Promise<ReserveAnswer>
  commit (host: string, requestId: string, options?: { signal?: AbortSignal }): Promise<CommitAnswer>
  release (host: string, requestId: string, options?: { signal?: AbortSignal }): Promise<boolean>
}

export interface PlacedVm {
  vmId: string
  host: string
  requestId: string
  epoch: number
  cost: number
}

export interface PlacerComponents {
  view: HostView
  transport: ReservationTransport
  clock: Clock
  random: Random
}

export interface PlacerInit {
  /**
   * This peer's id (for logs). Request ids are `pool/vmId@epoch`, the same whoever asks, so a coordinator that
   * takes over and asks the same host again gets the reservation its predecessor obtained, not a second one.
   */
  self: string
  cost?: CostModel
  choices?: number
  topFraction?: number
  /** At most this many hosts are asked for one VM before giving up. Default 8. */
  maxAttempts?: number
}

export interface PlacerStats {
  attempts: number
  refused: number
  unreachable: number
  placed: number
  /** Milliseconds of CPU (process time) spent ranking and choosing, excluding waits for hosts. */
  rankingMs: number
}

export class Placer {
  readonly #c: PlacerComponents
  readonly #init: PlacerInit
  readonly stats: PlacerStats = { attempts: 0, refused: 0, unreachable: 0, placed: 0, rankingMs: 0 }

  constructor (components: PlacerComponents, init: PlacerInit) {
    this.#c = components
    this.#init = init
  }

  /**
   * Reserves a host for every VM (biggest first), or none: on failure every reservation taken is released and the
   * error names the VM and why (NoHostFitsError, ReservationRefusedError). `epochs` gives a VM's epoch (default 1).
   * The reservations are not committed: the deploy's commit phase does that (commitAll).
   */
  async reserveAll (vms: readonly VmDemand[], spec: SchedulerSpec,
    options: { signal?: AbortSignal, epochs?: ReadonlyMap<string, number>, exclude?: ReadonlySet<string> } = {}): Promise<PlacedVm[]> {
    const placed: PlacedVm[] = []
    try {
      for (const vm of placementOrder(vms)) {
        placed.push(await this.reserveOne(vm, spec, options.epochs?.get(vm.vmId) ?? 1, options))
      }
    } catch (err) {
      await this.releaseAll(placed)
      throw err
    }
    const byId = new Map(placed.map(p => [p.vmId, p]))
    return vms.map(v => byId.get(v.vmId) as PlacedVm)
  }

  /** Reserves one VM: ranks from the view, asks the chosen host, falls back along the ranking. */
  async reserveOne (vm: VmDemand, spec: SchedulerSpec, epoch: number,
    options: { signal?: AbortSignal, exclude?: ReadonlySet<string> } = {}): Promise<PlacedVm> {
    const { view, transport, random } = this.#c
    const t0 = performance.now()
    const all = view.liveStates()
    const states = options.exclude && options.exclude.size > 0 ? all.filter(h => !options.exclude?.has(h.host)) : all
    const opts = { random, cost: this.#init.cost, choices: this.#init.choices, topFraction: this.#init.topFraction, attempts: this.#init.maxAttempts }
    const ranking = rank(vm, spec, states, opts)
    const order = chooseOrder(ranking, opts)
    this.stats.rankingMs += performance.now() - t0
    if (order.length === 0) {
      // Only now look at the hosts the view cannot offer: they make the message say "dead" rather than "unknown".
      const unavailable: Unavailable[] = view.hosts().filter(h => !view.isLive(h) || view.isStale(h))
        .map(h => ({ host: h, why: view.isLive(h) ? 'stale' as const : 'dead' as const }))
      const r = rank(vm, spec, states, opts, unavailable)
      throw new NoHostFitsError(vm.pool, vm.vmId, r.candidates, r.failures)
    }
    const refusals: Array<{ host: string, reason: string }> = []
    const requestId = `${vm.pool}/${vm.vmId}@${epoch}`
    for (const cand of order) {
      options.signal?.throwIfAborted()
      const req: ReserveRequest = { requestId, pool: vm.pool, vmId: vm.vmId, memoryMiB: vm.memoryMiB, vcpus: vm.vcpus, epoch }
      this.stats.attempts++
      let answer: ReserveAnswer
      try {
        answer = await transport.reserve(cand.host, req, { signal: options.signal })
      } catch (err) {
        if (!(err instanceof HostUnreachableError)) throw err
        this.stats.unreachable++
        refusals.push({ host: cand.host, reason: 'unreachable' })
        // It may have been admitted before the answer was lost: release it so it does not wait for expiry.
        transport.release(cand.host, requestId).catch(() => {})
        continue
      }
      view.noteFree(answer.host, answer.free, answer.version)
      if (answer.admitted) {
        this.stats.placed++
        // The host may answer with the id under which it already holds this VM at this epoch.
        return { vmId: vm.vmId, host: cand.host, requestId: answer.requestId, epoch, cost: cand.cost }
      }
      this.stats.refused++
      refusals.push({ host: cand.host, reason: `${answer.reason}: ${answer.detail}` })
      if (answer.reason === 'stale-epoch') break
    }
    throw new ReservationRefusedError(vm.pool, vm.vmId, refusals)
  }

  /** Commits reservations (the deploy's commit phase). Returns those the hosts no longer knew (expired). */
  async commitAll (placed: readonly PlacedVm[], options: { signal?: AbortSignal } = {}): Promise<PlacedVm[]> {
    const lost: PlacedVm[] = []
    await Promise.all(placed.map(async p => {
      try {
        const a = await this.#c.transport.commit(p.host, p.requestId, options)
        if (!a.committed) lost.push(p)
      } catch (err) {
        if (!(err instanceof HostUnreachableError)) throw err
        lost.push(p)
      }
    }))
    return lost
  }

  async releaseAll (placed: readonly PlacedVm[]): Promise<void> {
    await Promise.all(placed.map(p => this.#c.transport.release(p.host, p.requestId).catch(() => false)))
  }
}
