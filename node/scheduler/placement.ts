// Placement of one VM from a peer's view: candidates are the Scheduler's hosts (every live host when it names
// none), filtered by the hard constraints, ranked by cost, and one is chosen by power-of-d choices among the best:
// d candidates drawn at random from the best few, the cheapest of them wins. Many peers scheduling at once from
// similar views then spread over the best hosts instead of all asking the single best one. The rest of the ranking
// is the order in which refusals fall back.

import { cost, defaultCostModel, imageCached } from './cost.ts'
import type { CostModel } from './cost.ts'
import { NoHostFitsError } from './errors.ts'
import type { ConstraintFailure } from './errors.ts'
import { compileQuery } from './query.ts'
import type { Random } from './random.ts'
import type { HostState, SchedulerSpec, VmDemand } from './types.ts'

export interface PlacementOptions {
  random: Random
  cost?: CostModel
  /** d of power-of-d choices. Default 2. */
  choices?: number
  /**
   * The d candidates are drawn from the best max(d, ceil(fraction x feasible)) hosts. Default 1: from every feasible
   * host, the classic power-of-d, which is what keeps many peers with the same stale view from colliding.
   */
  topFraction?: number
  /** With fewer feasible hosts than this the cheapest is taken outright: a draw among 3 costs balance. Default 4. */
  exactBelow?: number
  /** Length of the order returned (the chosen host and its fallbacks). Default 8. */
  attempts?: number
}

/** Hosts the view cannot offer, with why: named in `hosts` but unknown, declared dead, or silent too long. */
export interface Unavailable { host: string, why: 'unknown' | 'dead' | 'stale' }

export interface Scored { host: string, cost: number, copy: number, share: number }

export interface Ranking {
  /** Feasible hosts with their cost, in the order of the input (not sorted: choosing does not need it). */
  feasible: Scored[]
  /** Hosts considered (after the Scheduler's `hosts` list). */
  candidates: number
  failures: ConstraintFailure[]
}

const queryCache = new Map<string, (rec: Record<string, unknown>) => boolean>()
function requiresOf (vm: VmDemand): ((rec: Record<string, unknown>) => boolean) | undefined {
  if (vm.requires === undefined) return undefined
  let q = queryCache.get(vm.requires)
  if (!q) {
    q = compileQuery(vm.requires, `${vm.pool}/${vm.vmId}:requires`) as (rec: Record<string, unknown>) => boolean
    if (queryCache.size > 1000) queryCache.clear()
    queryCache.set(vm.requires, q)
  }
  return q
}

/** The attribute record `requires` sees: the host's attributes plus its name and driver. */
function hostRecord (h: HostState): Record<string, unknown> {
  return { ...h.attributes, host: h.host, driver: h.driver }
}

/**
 * Filters and ranks. `hosts` are the live, fresh hosts of the view; `unavailable` only improves the error message.
 * Throws QuerySyntaxError when the VM's `requires` does not parse (before looking at any host).
 */
export function rank (vm: VmDemand, spec: SchedulerSpec, hosts: readonly HostState[], opts: PlacementOptions,
  unavailable: readonly Unavailable[] = []): Ranking {
  const model = opts.cost ?? defaultCostModel
  const requires = requiresOf(vm)
  const named = spec.hosts && spec.hosts.length > 0 ? new Set(spec.hosts) : undefined
  const pool = named ? hosts.filter(h => named.has(h.host)) : hosts
  const fail = new Map<ConstraintFailure['constraint'], string[]>()
  const note = (c: ConstraintFailure['constraint'], host: string): void => {
    const l = fail.get(c); if (l) l.push(host); else fail.set(c, [host])
  }
  if (named) {
    const seen = new Set(pool.map(h => h.host))
    const why = new Map(unavailable.map(u => [u.host, u.why]))
    for (const n of named) {
      if (seen.has(n)) continue
      const w = why.get(n) ?? 'unknown'
      note(w === 'dead' ? 'live' : w === 'stale' ? 'stale' : 'hosts', n)
    }
  }
  let bestMem = -Infinity; let bestCpu = -Infinity; let bestDisk = -Infinity
  let bestMemHost = ''; let bestCpuHost = ''
  const feasible: Scored[] = []
  const anyCache = vm.image !== undefined && hosts.some(h => h.images.includes(vm.image as string))
  for (const h of pool) {
    let ok = true
    if (vm.driver !== undefined && h.driver !== vm.driver) { note('driver', h.host); ok = false }
    if (requires && !requires(hostRecord(h))) { note('requires', h.host); ok = false }
    const freeMem = h.capacity.memoryMiB - h.used.memoryMiB
    const freeCpu = h.capacity.vcpus - h.used.vcpus
    if (freeMem < vm.memoryMiB) {
      note('memory', h.host); ok = false
      if (freeMem > bestMem) { bestMem = freeMem; bestMemHost = h.host }
    }
    if (freeCpu < vm.vcpus) {
      note('vcpus', h.host); ok = false
      if (freeCpu > bestCpu) { bestCpu = freeCpu; bestCpuHost = h.host }
    }
    if (!imageCached(vm, h)) {
      // The image must come from somewhere (another host's cache) and fit on this host's disk.
      const size = vm.imageSizeMiB ?? model.defaultImageSizeMiB
      const diskOk = h.diskFreeMiB === undefined || h.diskFreeMiB >= size
      if (!(anyCache || vm.imageInWarehouse === true) || !diskOk) { note('image', h.host); ok = false; bestDisk = Math.max(bestDisk, h.diskFreeMiB ?? Infinity) }
    }
    if (!ok) continue
    const c = cost(vm, h, model)
    feasible.push({ host: h.host, cost: c.total, copy: c.copy, share: c.share })
  }
  const failures: ConstraintFailure[] = []
  for (const [c, list] of fail) {
    failures.push({ constraint: c, hosts: list.length, detail: detailOf(c, vm, list, { bestMem, bestCpu, bestDisk, bestMemHost, bestCpuHost }, model) })
  }
  return { feasible, candidates: named ? named.size : pool.length, failures }
}

function detailOf (c: ConstraintFailure['constraint'], vm: VmDemand, list: string[],
  best: { bestMem: number, bestCpu: number, bestDisk: number, bestMemHost: string, bestCpuHost: string }, model: CostModel): string {
  const names = list.length <= 5 ? list.join(', ') : `${list.slice(0, 5).join(', ')}...`
  switch (c) {
    // The best host is named: "needs 4096 MiB, best host machine1 has 2048 free" says where to look.
    case 'memory': return `memory: needs ${vm.memoryMiB} MiB, best host ${best.bestMemHost} has ${Math.max(0, best.bestMem)} free`
    case 'vcpus': return `vcpus: needs ${vm.vcpus}, best host ${best.bestCpuHost} has ${Math.max(0, best.bestCpu)} free`
    case 'driver': return `driver: needs ${vm.driver ?? '?'} (${names})`
    case 'requires': return `requires: ${vm.requires ?? ''} is false for ${names}`
    case 'image': return `image: ${vm.image ?? '?'} (${vm.imageSizeMiB ?? model.defaultImageSizeMiB} MiB) is cached on no host nor in the warehouse, or does not fit the disk, best disk free ${Number.isFinite(best.bestDisk) ? `${best.bestDisk} MiB` : 'unknown'}`
    case 'hosts': return `hosts: named but not in the mesh: ${names}`
    case 'live': return `live: declared dead: ${names}`
    case 'stale': return `stale: no recent announcement from ${names}`
  }
}

/** Cheapest first; equal costs in random order (so equal hosts share the load). */
export function sortByCost (feasible: readonly Scored[], random: Random): Scored[] {
  const keyed = feasible.map(f => ({ f, r: random.next() }))
  keyed.sort((a, b) => a.f.cost - b.f.cost || a.r - b.r)
  return keyed.map(k => k.f)
}

/**
 * The order in which to ask hosts: each position is a power-of-d draw among the candidates left (d drawn at
 * random, the cheapest wins), so a refusal falls back to another random good host rather than to the next in a
 * ranking every peer shares. Empty when nothing fits.
 */
export function chooseOrder (ranking: Ranking, opts: PlacementOptions): Scored[] {
  const n = ranking.feasible.length
  const attempts = Math.min(n, opts.attempts ?? 8)
  if (n === 0) return []
  const d = Math.max(1, opts.choices ?? 2)
  if (n < (opts.exactBelow ?? 4) || d >= n) return sortByCost(ranking.feasible, opts.random).slice(0, attempts)
  const m = Math.min(n, Math.max(d, Math.ceil(n * (opts.topFraction ?? 1))))
  const pool = m < n ? sortByCost(ranking.feasible, opts.random).slice(0, m) : ranking.feasible.slice()
  const out: Scored[] = []
  let left = pool.length
  while (out.length < attempts && left > 0) {
    let best = -1
    const draws = Math.min(d, left)
    // d draws with replacement among the `left` first entries: cheap, and a repeat only weakens one choice.
    for (let i = 0; i < draws; i++) {
      const j = opts.random.int(left)
      if (best < 0 || pool[j].cost < pool[best].cost) best = j
    }
    out.push(pool[best])
    pool[best] = pool[--left]
  }
  return out
}

/** Ranks and chooses, or throws NoHostFitsError naming the constraints that failed on how many hosts. */
export function placeOne (vm: VmDemand, spec: SchedulerSpec, hosts: readonly HostState[], opts: PlacementOptions,
  unavailable: readonly Unavailable[] = []): Scored[] {
  const r = rank(vm, spec, hosts, opts, unavailable)
  if (r.feasible.length === 0) throw new NoHostFitsError(vm.pool, vm.vmId, r.candidates, r.failures)
  return chooseOrder(r, opts)
}

export interface EstimateRow {
  vmId: string
  /** Where the VM would go; undefined when nothing fits (then `error` says why). */
  host?: string
  error?: NoHostFitsError
  /** Cost on every feasible candidate at the moment this VM is placed (after the VMs before it). */
  costs: Scored[]
}

/**
 * `sdpeer estimate`: places the pool's VMs on a copy of the view, without reserving anything. Bigger VMs first
 * (as the placer does), each placement charged to the copy so later VMs see it.
 */
export function estimate (vms: readonly VmDemand[], spec: SchedulerSpec, hosts: readonly HostState[],
  opts: PlacementOptions, unavailable: readonly Unavailable[] = []): EstimateRow[] {
  const view = new Map(hosts.map(h => [h.host, { ...h, used: { ...h.used } }]))
  const rows = new Map<string, EstimateRow>()
  for (const vm of placementOrder(vms)) {
    const r = rank(vm, spec, [...view.values()], opts, unavailable)
    if (r.feasible.length === 0) {
      rows.set(vm.vmId, { vmId: vm.vmId, error: new NoHostFitsError(vm.pool, vm.vmId, r.candidates, r.failures), costs: [] })
      continue
    }
    const chosen = chooseOrder(r, opts)[0]
    const h = view.get(chosen.host) as HostState
    view.set(h.host, { ...h, used: { memoryMiB: h.used.memoryMiB + vm.memoryMiB, vcpus: h.used.vcpus + vm.vcpus }, domains: h.domains + 1 })
    rows.set(vm.vmId, { vmId: vm.vmId, host: chosen.host, costs: sortByCost(r.feasible, opts.random) })
  }
  return vms.map(v => rows.get(v.vmId) as EstimateRow)
}

/** Biggest first: large VMs placed early find room; the description's order breaks ties. */
export function placementOrder<T extends Pick<VmDemand, 'memoryMiB' | 'vcpus'>> (vms: readonly T[]): T[] {
  return vms.map((v, i) => ({ v, i }))
    .sort((a, b) => b.v.memoryMiB - a.v.memoryMiB || b.v.vcpus - a.v.vcpus || a.i - b.i)
    .map(x => x.v)
}
