import type { Clock } from '../../node/seams/clock.ts'
import type { ComponentStatus, TerminationRecord } from '../../node/engine/types.ts'
import { EngineError } from '../../node/engine/types.ts'
import type { PartEngine, PartPlan, PrepareVerdict } from '../../node/deploy/types.ts'
import { isRemotePlaceholder } from '../../node/deploy/split.ts'
import type { SfJson, SfJsonObject } from '../../node/sf/sfjson.ts'
import { isEagerComponent } from '../../node/sf/sfjson.ts'

// A host's engine as the deploy participant sees it, for the simulation: capacity accounting (reservations at
// prepare, use at deploy), components that go running after a virtual hypervisor time (storage first, then the
// domains), attributes to get/set, and fault knobs (refuse prepare, fail deploy, kill a part as if its domain died).
// Every action is logged so tests can assert what happened on which host, and that nothing is left behind.

export interface Resources { memoryMiB: number, vcpus: number }

export interface FakeEngineKnobs {
  /** prepare answers no with this reason. */
  refusePrepare?: string
  /** deploy throws this reason (after rolling back). */
  failDeploy?: string
  /** Virtual hypervisor time per storage backend and per domain. */
  storageMs?: number
  domainMs?: number
}

interface Comp { path: string, type: string, attrs: SfJsonObject, state: ComponentStatus['state'] }
interface Part { pool: string, path: string, comps: Comp[], demand: Resources, deployId: string }

const typeOf = (cd: SfJsonObject): string => {
  const cls = typeof cd.sfClass === 'string' ? cd.sfClass : 'Prim'
  return (cls.split('.').pop() ?? cls).replace(/Impl$/, '')
}
const isDomain = (c: Comp): boolean => /Domain$/.test(c.type) && c.type !== 'DeployManagement'
const isStorage = (c: Comp): boolean => /StorageBackend$/.test(c.type)
const join = (a: string, b: string): string => a === '' ? b : `${a}:${b}`

function components (plan: PartPlan): Comp[] {
  const out: Comp[] = []
  const walk = (cd: SfJsonObject, path: string): void => {
    out.push({ path, type: typeOf(cd), attrs: cd, state: 'deploying' })
    for (const [k, v] of Object.entries(cd)) if (isEagerComponent(v) && !isRemotePlaceholder(v)) walk(v, join(path, k))
  }
  walk(plan.config, plan.path)
  return out
}

function demandOf (comps: Comp[]): Resources {
  let memoryMiB = 0; let vcpus = 0
  for (const c of comps) {
    if (!isDomain(c)) continue
    memoryMiB += typeof c.attrs.memory === 'number' ? c.attrs.memory : 512
    vcpus += typeof c.attrs.vcpus === 'number' ? c.attrs.vcpus : 1
  }
  return { memoryMiB, vcpus }
}

export class FakeEngine implements PartEngine {
  readonly host: string
  readonly capacity: Resources
  knobs: FakeEngineKnobs
  readonly actions: string[] = []
  readonly #clock: Clock
  readonly #reserved = new Map<string, Resources>()
  readonly #parts = new Map<string, Part>()
  readonly #listeners = new Set<(pool: string, path: string, record: TerminationRecord) => void>()

  /** Shared by every engine of a cluster: the order of actions across hosts. */
  readonly #journal: string[] | undefined

  constructor (init: { host: string, clock: Clock, capacity: Resources, knobs?: FakeEngineKnobs, journal?: string[] }) {
    this.host = init.host
    this.#journal = init.journal
    this.#clock = init.clock
    this.capacity = init.capacity
    this.knobs = init.knobs ?? {}
  }

  /** Memory and vcpus reserved (prepared, not yet deployed) plus used (deployed, not terminated). */
  get committed (): Resources {
    const all = [...this.#reserved.values(), ...[...this.#parts.values()].filter(p => p.comps.some(c => c.state !== 'terminated')).map(p => p.demand)]
    return all.reduce((a, b) => ({ memoryMiB: a.memoryMiB + b.memoryMiB, vcpus: a.vcpus + b.vcpus }), { memoryMiB: 0, vcpus: 0 })
  }

  get reservations (): number { return this.#reserved.size }

  /** Components not terminated, across every pool: "nothing left behind" means zero. */
  live (pool?: string): ComponentStatus[] {
    return [...this.#parts.values()].filter(p => pool === undefined || p.pool === pool)
      .flatMap(p => p.comps.filter(c => c.state !== 'terminated').map(c => this.#status(c)))
  }

  async prepare (deployId: string, pool: string, parts: PartPlan[]): Promise<PrepareVerdict> {
    if (this.knobs.refusePrepare !== undefined) return { ok: false, reason: this.knobs.refusePrepare }
    if (this.#reserved.has(deployId)) return { ok: true }
    const demand = demandOf(parts.flatMap(components))
    const used = this.committed
    const free = { memoryMiB: this.capacity.memoryMiB - used.memoryMiB, vcpus: this.capacity.vcpus - used.vcpus }
    if (demand.memoryMiB > free.memoryMiB) return { ok: false, reason: `no capacity on ${this.host}: needs ${demand.memoryMiB} MiB, ${free.memoryMiB} MiB free` }
    if (demand.vcpus > free.vcpus) return { ok: false, reason: `no capacity on ${this.host}: needs ${demand.vcpus} vcpus, ${free.vcpus} free` }
    this.#reserved.set(deployId, demand)
    this.#act(`reserve ${pool} ${deployId} ${demand.memoryMiB}MiB`)
    return { ok: true }
  }

  release (deployId: string): void {
    if (this.#reserved.delete(deployId)) this.#act(`release ${deployId}`)
  }

  async deploy (deployId: string, pool: string, plans: PartPlan[]): Promise<ComponentStatus[]> {
    const parts = plans.map(plan => {
      const comps = components(plan)
      return { pool, path: plan.path, comps, demand: demandOf(comps), deployId }
    })
    this.#reserved.delete(deployId)
    for (const p of parts) this.#parts.set(`${pool}\u0000${p.path}`, p)
    const all = parts.flatMap(p => p.comps)
    // Storage first (volumes and images ready), then the domains that boot from them, then the rest.
    const ordered = [...all.filter(isStorage), ...all.filter(isDomain), ...all.filter(c => !isStorage(c) && !isDomain(c))]
    for (const c of ordered) {
      if (isStorage(c)) await this.#clock.sleep(this.knobs.storageMs ?? 0)
      if (isDomain(c)) await this.#clock.sleep(this.knobs.domainMs ?? 0)
      if (this.knobs.failDeploy !== undefined && isDomain(c)) {
        for (const x of all) x.state = 'terminated'
        this.#act(`rollback ${pool} ${deployId}`)
        throw new EngineError(this.knobs.failDeploy, pool, c.path)
      }
      c.state = 'running'
      this.#act(`start ${pool}:${c.path}`)
    }
    return all.map(c => this.#status(c))
  }

  async terminate (pool: string, path: string, record: TerminationRecord): Promise<void> {
    const p = this.#parts.get(`${pool}\u0000${path}`)
    if (p === undefined) return
    for (const c of [...p.comps].reverse()) {
      if (c.state === 'terminated') continue
      c.state = 'terminated'
      this.#act(`stop ${pool}:${c.path} ${record.type}`)
    }
  }

  status (pool: string, path: string): ComponentStatus[] {
    return this.#parts.get(`${pool}\u0000${path}`)?.comps.map(c => this.#status(c)) ?? []
  }

  #comp (pool: string, path: string): Comp {
    for (const p of this.#parts.values()) {
      if (p.pool !== pool) continue
      const c = p.comps.find(x => x.path === path)
      if (c !== undefined) return c
    }
    throw new EngineError('no such component here', pool, path)
  }

  get (pool: string, path: string, attr?: string): SfJson {
    const c = this.#comp(pool, path)
    if (attr === undefined) return c.attrs
    if (!(attr in c.attrs)) throw new EngineError(`no attribute ${attr}`, pool, path)
    return c.attrs[attr]
  }

  set (pool: string, path: string, attr: string, value: SfJson): void {
    const c = this.#comp(pool, path)
    c.attrs = { ...c.attrs, [attr]: value }
    this.#act(`set ${pool}:${path} ${attr}`)
  }

  onPartTerminated (listener: (pool: string, path: string, record: TerminationRecord) => void): () => void {
    this.#listeners.add(listener)
    return () => this.#listeners.delete(listener)
  }

  /** Fault injection: a component of a part dies (its domain crashed); the part ends abnormally (shared fate). */
  crash (pool: string, path: string, partPath: string): void {
    const p = this.#parts.get(`${pool}\u0000${partPath}`)
    if (p === undefined) throw new Error(`no part ${pool}:${partPath} on ${this.host}`)
    for (const c of [...p.comps].reverse()) if (c.state !== 'terminated') { c.state = 'terminated'; this.#act(`stop ${pool}:${c.path} abnormal`) }
    const record: TerminationRecord = { type: 'abnormal', reason: 'domain died', path }
    for (const l of this.#listeners) l(pool, partPath, record)
  }

  #act (a: string): void {
    this.actions.push(a)
    this.#journal?.push(`${this.host} ${a}`)
  }

  #status (c: Comp): ComponentStatus {
    return { path: c.path, type: c.type, host: this.host, state: c.state }
  }
}
