// The scheduler simulation's scenarios and their figures: many deployers placing at once (imbalance against a
// central placement of the same VMs, refused reservations, over-commitment checked from every host's own
// accounting, CPU per placement), and a host dying under its VMs (time to re-place, coordinator take-over, fencing).

import { coordinatorOf } from '../../node/scheduler/coordinator.ts'
import { defaultCostModel } from '../../node/scheduler/cost.ts'
import { placementOrder, rank } from '../../node/scheduler/placement.ts'
import { seededRandom } from '../../node/scheduler/random.ts'
import type { HostState } from '../../node/scheduler/types.ts'
import { Cluster } from './cluster.ts'
import type { ClusterOptions } from './cluster.ts'
import type { Workload } from './workload.ts'

export interface LoadFigures { imbalance: number, maxShare: number, meanShare: number }

/** max/mean of the hosts' memory shares. */
export function loadFigures (shares: readonly number[]): LoadFigures {
  const mean = shares.reduce((a, b) => a + b, 0) / shares.length
  const max = Math.max(...shares)
  return { imbalance: mean > 0 ? max / mean : 1, maxShare: max, meanShare: mean }
}

/**
 * The reference: one central scheduler with a perfect, instantaneous view places the same VMs (same order, same
 * cost function) on the cheapest host every time.
 */
export function centralPlacement (w: Workload, seed: number): { figures: LoadFigures, unplaced: number } {
  const hosts = new Map<string, HostState>(w.hosts.map(h => [h.host, {
    host: h.host, version: 0, driver: h.driver ?? 'sim', capacity: h.capacity, used: { memoryMiB: 0, vcpus: 0 },
    domains: 0, images: h.images ?? [], attributes: h.attributes ?? {}
  }]))
  const random = seededRandom(seed)
  let unplaced = 0
  for (const job of w.pools) {
    for (const vm of placementOrder(job.vms)) {
      const r = rank(vm, {}, [...hosts.values()], { random, cost: defaultCostModel })
      let best = r.feasible[0]
      for (const f of r.feasible) if (f.cost < best.cost) best = f
      if (!best) { unplaced++; continue }
      const h = hosts.get(best.host) as HostState
      hosts.set(h.host, { ...h, used: { memoryMiB: h.used.memoryMiB + vm.memoryMiB, vcpus: h.used.vcpus + vm.vcpus }, domains: h.domains + 1 })
    }
  }
  return { figures: loadFigures([...hosts.values()].map(h => h.used.memoryMiB / h.capacity.memoryMiB)), unplaced }
}

export interface DeployFigures {
  pools: number
  failedPools: number
  errors: string[]
  vms: number
  placed: number
  attempts: number
  refused: number
  unreachable: number
  refusalRate: number
  load: LoadFigures
  central: LoadFigures
  /** Hosts whose own accounting exceeds their capacity, or whose running totals disagree with their entries. */
  overcommitted: string[]
  virtualMs: number
  wallMs: number
  events: number
  /** Placements per CPU-second spent ranking and choosing, on the busiest deploying peer. */
  placementsPerCpuSecond: number
}

export async function runDeploy (w: Workload, opts: ClusterOptions): Promise<{ cluster: Cluster, figures: DeployFigures }> {
  const cluster = new Cluster(w, opts)
  const t0 = performance.now()
  cluster.mesh.startGossip()
  let finished = false
  void cluster.deploy(w.pools).then(() => { finished = true })
  await cluster.clock.run({ done: () => finished })
  const wallMs = performance.now() - t0
  return { cluster, figures: deployFigures(cluster, w, opts.seed, wallMs) }
}

export function overcommitted (cluster: Cluster): string[] {
  const bad: string[] = []
  for (const h of cluster.mesh.hosts.values()) {
    const a = h.admission.accounting()
    const used = { memoryMiB: a.reserved.memoryMiB + a.committed.memoryMiB, vcpus: a.reserved.vcpus + a.committed.vcpus }
    const agrees = a.capacity.memoryMiB - used.memoryMiB === a.free.memoryMiB && a.capacity.vcpus - used.vcpus === a.free.vcpus
    if (used.memoryMiB > a.capacity.memoryMiB || used.vcpus > a.capacity.vcpus || !agrees) bad.push(h.host)
  }
  return bad
}

function deployFigures (cluster: Cluster, w: Workload, seed: number, wallMs: number): DeployFigures {
  const failed = cluster.outcomes.filter(o => o.error)
  let attempts = 0; let refused = 0; let unreachable = 0
  let busiest = { placed: 0, ms: 0 }
  for (const p of cluster.placers.values()) {
    attempts += p.stats.attempts; refused += p.stats.refused; unreachable += p.stats.unreachable
    if (p.stats.placed > busiest.placed) busiest = { placed: p.stats.placed, ms: p.stats.rankingMs }
  }
  const shares = [...cluster.mesh.hosts.values()].map(h => {
    const a = h.admission.accounting()
    return (a.committed.memoryMiB + a.reserved.memoryMiB) / a.capacity.memoryMiB
  })
  return {
    pools: w.pools.length,
    failedPools: failed.length,
    errors: failed.slice(0, 5).map(o => `${o.error?.name}: ${o.error?.message}`),
    vms: w.pools.reduce((n, p) => n + p.vms.length, 0),
    placed: cluster.outcomes.reduce((n, o) => n + o.placed.length, 0),
    attempts,
    refused,
    unreachable,
    refusalRate: attempts > 0 ? refused / attempts : 0,
    load: loadFigures(shares),
    central: centralPlacement(w, seed).figures,
    overcommitted: overcommitted(cluster),
    virtualMs: cluster.clock.now(),
    wallMs,
    events: cluster.clock.fired,
    placementsPerCpuSecond: busiest.ms > 0 ? busiest.placed / (busiest.ms / 1000) : Infinity
  }
}

export interface ReplaceFigures {
  victim: string
  victimVms: number
  killedCoordinator?: string
  /** The pool whose coordinator was killed. */
  coordinatedPool?: string
  /** Its successor by HRW over the participants at the moment of the failure (computed, not observed). */
  expectedSuccessor?: string
  /** The peers whose role for that pool actually re-placed or failed VMs (observed). */
  actors?: string[]
  /** From the failure to the last of the victim's VMs running elsewhere (virtual ms). */
  replaceMs: number
  /** The same, minus the failure-detection time. */
  afterDetectionMs: number
  notReplaced: string[]
  duplicates: string[]
  fenced: number
  /** Copies per VM at the end, anywhere: every VM exactly once when all is well. */
  copiesNotOne: string[]
}

export interface ReplaceOptions {
  /** Also kill the coordinator of one of the victim's pools at the same moment. */
  killCoordinator?: boolean
  /** Heal the victim's partition this long after the failure and let it rejoin (fencing unless opts.fencing false). */
  healAfterMs?: number
}

/**
 * Deploys the workload, then partitions the host holding the most VMs (its domains keep running: the hard case for
 * fencing), optionally kills a coordinator too, and measures re-placement.
 */
export async function runReplacement (w: Workload, opts: ClusterOptions, r: ReplaceOptions = {}): Promise<{ cluster: Cluster, figures: ReplaceFigures }> {
  const { cluster } = await runDeploy(w, opts)
  cluster.watchDuplicates()
  const counts = new Map<string, number>()
  for (const o of cluster.outcomes) for (const p of o.placed) counts.set(p.host, (counts.get(p.host) ?? 0) + 1)
  const victim = [...counts].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))[0][0]
  const victimVms = cluster.outcomes.flatMap(o => o.placed.filter(p => p.host === victim).map(p => `${o.pool}/${p.vmId}`))
  const figures: ReplaceFigures = {
    victim, victimVms: victimVms.length, replaceMs: NaN, afterDetectionMs: NaN, notReplaced: [], duplicates: [], fenced: 0, copiesNotOne: []
  }
  const t0 = cluster.clock.now()
  let coordinatedPool: string | undefined
  if (r.killCoordinator) {
    // A pool of the victim whose coordinator is another peer: kill that one as well.
    const pools = [...new Set(victimVms.map(v => v.slice(0, v.indexOf('/'))))].sort()
    for (const pool of pools) {
      const c = cluster.coordinatorOf(pool)
      if (c !== undefined && c !== victim) {
        figures.killedCoordinator = c
        figures.coordinatedPool = pool
        const participants = [...(cluster.replicas.get(pool)?.values() ?? [])][0].participants()
        figures.expectedSuccessor = coordinatorOf(pool, participants, p => p !== c && p !== victim)
        coordinatedPool = pool
        cluster.mesh.failPeer(c)
        break
      }
    }
  }
  cluster.mesh.fail(victim, 'partition')
  // Settled once the detector has declared the deaths and no coordinator has work left.
  const declared = (): boolean => !cluster.mesh.isLive(victim) && (figures.killedCoordinator === undefined || !cluster.mesh.isLive(figures.killedCoordinator))
  await cluster.clock.run({ done: () => declared() && cluster.settled(), until: t0 + (opts.detectionMs ?? 3000) + 60_000 })
  const last = Math.max(...victimVms.map(k => cluster.runningAt.get(k) ?? Infinity))
  figures.replaceMs = last - t0
  figures.afterDetectionMs = last - t0 - (opts.detectionMs ?? 3000)
  figures.notReplaced = victimVms.filter(k => (cluster.runningAt.get(k) ?? -1) <= t0)
  if (coordinatedPool !== undefined) {
    figures.actors = [...cluster.roles.entries()]
      .filter(([k, role]) => k.startsWith(`${coordinatedPool}\u0000`) && role.outcomes.length > 0).map(([k]) => k.slice(k.indexOf('\u0000') + 1))
  }
  if (r.healAfterMs !== undefined) {
    cluster.clock.setTimeout(() => cluster.mesh.heal(victim), Math.max(0, t0 + r.healAfterMs - cluster.clock.now()))
    const healed = (): boolean => cluster.mesh.hosts.get(victim)?.declaredLive === true
    await cluster.clock.run({ done: healed, until: t0 + r.healAfterMs + 30_000 })
    // Let a few more gossip rounds pass so the checker sees the mesh with the host back.
    await cluster.clock.run({ until: cluster.clock.now() + 3 * (opts.gossipMs ?? 1000) })
  }
  figures.duplicates = cluster.duplicates.slice(0, 10)
  figures.fenced = cluster.fenced.length
  figures.copiesNotOne = [...cluster.copies()].filter(([, hosts]) => hosts.length !== 1).map(([k, hosts]) => `${k}: ${hosts.join(',')}`)
  return { cluster, figures }
}
