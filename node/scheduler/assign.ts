// The scheduler in the deploy path: before a pool is split, the deploying peer gives every child of a Schedulee a
// host (its `sfProcessHost`) from its view of the mesh. Pure and seeded: the same config, hosts and seed give the
// same placement, so `sdpeer estimate` shows what a deploy would do and a test can replay a run. The host still
// judges at prepare time (HostAdmission behind PoolEnginePartEngine): this only chooses whom to ask.

import type { HostView as MeshHostView } from '../mesh/node.ts'
import type { SfJsonObject } from '../sf/sfjson.ts'
import { isComponent } from '../sf/sfjson.ts'
import type { CostModel } from './cost.ts'
import { NoHostFitsError } from './errors.ts'
import { chooseOrder, placementOrder, rank, sortByCost } from './placement.ts'
import type { Scored, Unavailable } from './placement.ts'
import { poolVms } from './pool-vms.ts'
import { seededRandom } from './random.ts'
import type { HostState, SchedulerSpec, VmDemand } from './types.ts'

export type { MeshHostView }

export interface AssignOptions {
  /** Seed of the power-of-d draws. Default 1. Peers deploying at once should pass different seeds. */
  seed?: number
  /** Base images cached on a host (the mesh announcement does not carry them yet). */
  imagesOf?: (host: MeshHostView) => string[]
  /** Host attributes a VM's `requires` may test (`arch`, `rack`...). */
  attributesOf?: (host: MeshHostView) => HostState['attributes']
  cost?: CostModel
  /** d of power-of-d. Default 2. */
  choices?: number
  /** Hosts not to use this time (a deploy retry after they refused). */
  exclude?: ReadonlySet<string>
  /** Pool name used in errors. Default "pool". */
  pool?: string
}

export interface Placement {
  /** Component path in the pool, `:`-separated as deploy paths are (e.g. "VMs2Dispatch:worker1"). */
  path: string
  host: string
  cost: number
  /** Every feasible candidate with its cost when this VM was placed, cheapest first (for `sdpeer estimate`). */
  candidates: Scored[]
}

export interface AssignResult {
  config: SfJsonObject
  placements: Placement[]
}

/** Membership states a placement may use: this peer and peers the failure detector holds alive. */
const LIVE = new Set(['self', 'alive'])

/** The scheduler's HostState from the mesh node's view of one host; undefined when it has no name or capacity. */
export function hostStateOf (v: MeshHostView, o: Pick<AssignOptions, 'imagesOf' | 'attributesOf'> = {}): HostState | undefined {
  const host = v.hostNames[0]
  if (host === undefined || v.capacity === undefined) return undefined
  return {
    host,
    peer: v.peerId,
    version: 0,
    driver: v.driver ?? 'sim',
    capacity: { memoryMiB: v.capacity.memoryMb, vcpus: v.capacity.vcpus },
    used: { memoryMiB: v.load?.memoryMb ?? 0, vcpus: v.load?.vcpus ?? 0 },
    domains: v.load?.domains ?? 0,
    images: o.imagesOf?.(v) ?? [],
    attributes: o.attributesOf?.(v) ?? {}
  }
}

/** Live candidate hosts, and the ones known but unusable (for the error message). */
export function meshCandidates (hosts: readonly MeshHostView[], o: Pick<AssignOptions, 'imagesOf' | 'attributesOf' | 'exclude'> = {}):
{ states: HostState[], unavailable: Unavailable[] } {
  const states: HostState[] = []
  const unavailable: Unavailable[] = []
  for (const v of hosts) {
    const s = hostStateOf(v, o)
    if (s === undefined) continue
    if (!LIVE.has(v.state)) {
      // Suspected or not yet confirmed by the failure detector: not dead, but not a place to put a VM now.
      const why = v.state === 'dead' ? 'dead' as const : 'stale' as const
      for (const n of v.hostNames) unavailable.push({ host: n, why })
      continue
    }
    if (o.exclude?.has(s.host) === true) continue
    states.push(s)
  }
  return { states, unavailable }
}

/** One scheduled VM's outcome: where it goes and what every candidate would cost, or why nothing fits. */
export interface PlanRow {
  demand: VmDemand
  /** `:`-separated component path (deploy paths). */
  path: string
  host?: string
  cost?: number
  error?: NoHostFitsError
  /** Feasible candidates when this VM was placed (after the VMs placed before it), cheapest first. */
  candidates: Scored[]
}

export interface Plan {
  /** A copy of the config with `sfProcessHost` on every placed VM. */
  config: SfJsonObject
  /** In the description's order. */
  rows: PlanRow[]
  /** VMs outside any Schedulee that name their host themselves. */
  pinned: Array<{ path: string, host: string, demand: VmDemand }>
}

/**
 * Places what fits and says why the rest does not, without throwing for a VM that fits nowhere (`sdpeer
 * estimate` shows every VM). Bigger VMs first; every placement is charged to one view of the hosts, so the
 * VMs of a pool spread among themselves.
 */
export function planScheduledHosts (config: SfJsonObject, hosts: readonly MeshHostView[], opts: AssignOptions = {}): Plan {
  const pool = opts.pool ?? 'pool'
  const out = structuredClone(config)
  const { scheduled, pinned } = poolVms(pool, out)
  const pinnedRows = pinned.map(p => ({ path: p.demand.vmId.replaceAll('/', ':'), host: p.host, demand: p.demand }))
  if (scheduled.length === 0) return { config: out, rows: [], pinned: pinnedRows }
  const { states, unavailable } = meshCandidates(hosts, opts)
  const random = seededRandom(opts.seed ?? 1)
  const popts = { random, ...(opts.cost !== undefined ? { cost: opts.cost } : {}), ...(opts.choices !== undefined ? { choices: opts.choices } : {}) }
  const view = new Map(states.map(s => [s.host, s]))
  // A Scheduler may name a host by any of its names: rank by the first (the one the host announces first).
  const primary = new Map<string, string>()
  for (const v of hosts) for (const n of v.hostNames) primary.set(n.toLowerCase(), v.hostNames[0])
  const norm = (spec: SchedulerSpec): SchedulerSpec =>
    spec.hosts === undefined ? spec : { hosts: [...new Set(spec.hosts.map(h => primary.get(h.toLowerCase()) ?? h))] }
  const specOf = new Map<string, SchedulerSpec>(scheduled.map(s => [s.demand.vmId, norm(s.spec)]))
  const rows = new Map<string, PlanRow>()
  for (const vm of placementOrder(scheduled.map(s => s.demand))) {
    const path = vm.vmId.replaceAll('/', ':')
    const r = rank(vm, specOf.get(vm.vmId) as SchedulerSpec, [...view.values()], popts, unavailable)
    if (r.feasible.length === 0) {
      rows.set(vm.vmId, { demand: vm, path, error: new NoHostFitsError(pool, vm.vmId, r.candidates, r.failures), candidates: [] })
      continue
    }
    const chosen = chooseOrder(r, popts)[0]
    charge(view, chosen.host, vm)
    setHost(out, vm.vmId, chosen.host)
    rows.set(vm.vmId, { demand: vm, path, host: chosen.host, cost: chosen.cost, candidates: sortByCost(r.feasible, random) })
  }
  return { config: out, rows: scheduled.map(s => rows.get(s.demand.vmId) as PlanRow), pinned: pinnedRows }
}

/**
 * Places every child VM of every Schedulee of `config` and returns a copy with `sfProcessHost` set on each.
 * Throws NoHostFitsError (naming the constraint and the best host) for a VM no live candidate can take (the
 * biggest such VM), and PoolDescriptionError for a malformed Schedulee. Without Schedulee: an unchanged copy.
 */
export function assignScheduledHosts (config: SfJsonObject, hosts: readonly MeshHostView[], opts: AssignOptions = {}): AssignResult {
  const plan = planScheduledHosts(config, hosts, opts)
  const failed = placementOrder(plan.rows.map(r => ({ ...r.demand, row: r }))).find(x => x.row.error !== undefined)
  if (failed !== undefined) throw failed.row.error as NoHostFitsError
  return {
    config: plan.config,
    placements: plan.rows.map(r => ({ path: r.path, host: r.host as string, cost: r.cost as number, candidates: r.candidates }))
  }
}

function charge (view: Map<string, HostState>, host: string, vm: VmDemand): void {
  const h = view.get(host) as HostState
  view.set(host, { ...h, used: { memoryMiB: h.used.memoryMiB + vm.memoryMiB, vcpus: h.used.vcpus + vm.vcpus }, domains: h.domains + 1 })
}

/** vmId is the `/`-separated path poolVms gives; attribute names cannot contain `/`. */
function setHost (root: SfJsonObject, vmId: string, host: string): void {
  let node: SfJsonObject = root
  for (const part of vmId.split('/')) {
    const next = node[part]
    if (next === undefined || !isComponent(next)) throw new Error(`scheduler: ${vmId} vanished from the config`)
    node = next
  }
  node.sfProcessHost = host
}
