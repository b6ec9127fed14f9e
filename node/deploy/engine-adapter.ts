import { createHash } from 'node:crypto'
import type { ComponentStatus, PoolEngine, TerminationRecord } from '../engine/types.ts'
import { EngineError } from '../engine/types.ts'
import type { RemoteAskOptions, RemoteResolver } from '../engine/remote.ts'
import type { ReserveAnswer, ReserveRequest, CommitAnswer } from '../scheduler/types.ts'
import { SF_CLASS } from '../sf/component-classes.ts'
import type { SfJson, SfJsonObject } from '../sf/sfjson.ts'
import { isEagerComponent } from '../sf/sfjson.ts'
import { PartNotReadyError } from './remote-refs.ts'
import type { RefRouter } from './remote-refs.ts'
import { isRemotePlaceholder } from './split.ts'
import type { PartEngine, PartPlan, PrepareVerdict } from './types.ts'

// PartEngine over the host's PoolEngine: each part is deployed as an engine pool of its own (the pool's root part
// under the pool's name, the others under "POOL--a.b" or a hash when that is too long), so the engine stays
// unaware of the mesh. Remote children are `$data` placeholders the engine leaves alone. Reservations go through
// the scheduler's host admission (one reservation per domain, at the part's epoch: 1, or more once re-placed), the
// same accounting placements use.
//
// LAZY references that leave a part (ROOT:..., ATTRIB up past the part's root, into a placeholder) reach the
// engine's RemoteResolver, which this adapter implements over the DeployPeer's RefRouter (remote-refs.ts): the
// engine learns where each of its pools sits in the whole pool, and asks; it never sees a peer.

export type Admission = {
  reserve (req: ReserveRequest): ReserveAnswer
  commit (requestId: string): CommitAnswer
  release (requestId: string): boolean
}

const ENGINE_POOL = /^[A-Za-z0-9._-]{1,64}$/
const join = (a: string, b: string): string => a === '' ? b : b === '' ? a : `${a}:${b}`

export function enginePoolName (pool: string, path: string): string {
  if (path === '') return pool
  const plain = `${pool}--${path.replaceAll(':', '.')}`
  if (ENGINE_POOL.test(plain)) return plain
  return `${pool.slice(0, 40)}--${createHash('sha256').update(path).digest('hex').slice(0, 20)}`
}

interface Demand { path: string, memoryMiB: number, vcpus: number }

function domainsOf (plan: PartPlan): Demand[] {
  const out: Demand[] = []
  const walk = (cd: SfJsonObject, path: string): void => {
    if (cd.sfClass === SF_CLASS.XenDomain) {
      out.push({ path, memoryMiB: typeof cd.memory === 'number' ? cd.memory : 512, vcpus: typeof cd.vcpus === 'number' ? cd.vcpus : 1 })
    }
    for (const [k, v] of Object.entries(cd)) if (isEagerComponent(v) && !isRemotePlaceholder(v)) walk(v, join(path, k))
  }
  walk(plan.config, plan.path)
  return out
}

export class PoolEnginePartEngine implements PartEngine {
  readonly #engine: PoolEngine
  readonly #admission: Admission | undefined
  /** Admission request ids per deploy (by part path), then per engine pool once deployed. */
  readonly #byDeploy = new Map<string, Map<string, string[]>>()
  readonly #byPart = new Map<string, string[]>()
  readonly #parts = new Map<string, { pool: string, path: string, parentPath?: string }>()
  /** Engine pools we are terminating ourselves: their end is not news to report. */
  readonly #ending = new Set<string>()

  constructor (init: { engine: PoolEngine, admission?: Admission }) {
    this.#engine = init.engine
    this.#admission = init.admission
  }

  async prepare (deployId: string, pool: string, parts: PartPlan[], options: { epoch?: number } = {}): Promise<PrepareVerdict> {
    if (this.#byDeploy.has(deployId)) return { ok: true }
    const ids = new Map<string, string[]>()
    const all = (): string[] => [...ids.values()].flat()
    for (const plan of parts) {
      // A part that ended (terminated, or undone by an abort) may be deployed again under the same name.
      const name = enginePoolName(pool, plan.path)
      if (this.#parts.has(name) && !this.#ending.has(name)) return this.#undo(all(), `part ${plan.path || '(root)'} already deployed here`)
      const mine: string[] = []
      ids.set(plan.path, mine)
      for (const d of domainsOf(plan)) {
        const requestId = `${deployId}|${d.path}`
        const a = this.#reserve(requestId, pool, d, options.epoch ?? 1)
        if (a !== undefined && !a.admitted) return this.#undo(all(), `${d.path}: no capacity on ${a.host}: ${a.detail}`)
        mine.push(requestId)
      }
    }
    this.#byDeploy.set(deployId, ids)
    return { ok: true }
  }

  /** One domain's reservation in the host's admission (none without admission). */
  #reserve (requestId: string, pool: string, d: Demand, epoch: number): ReturnType<Admission['reserve']> | undefined {
    return this.#admission?.reserve({ requestId, pool, vmId: d.path, memoryMiB: d.memoryMiB, vcpus: d.vcpus, epoch })
  }

  /** Known as a part of `pool` held here (its engine pool's name). */
  #register (pool: string, plan: PartPlan): string {
    const name = enginePoolName(pool, plan.path)
    this.#parts.set(name, { pool, path: plan.path, ...(plan.parentPath !== undefined ? { parentPath: plan.parentPath } : {}) })
    return name
  }

  #undo (ids: string[], reason: string): PrepareVerdict {
    for (const id of ids) this.#admission?.release(id)
    return { ok: false, reason }
  }

  release (deployId: string): void {
    for (const id of [...(this.#byDeploy.get(deployId)?.values() ?? [])].flat()) this.#admission?.release(id)
    this.#byDeploy.delete(deployId)
  }

  async deploy (deployId: string, pool: string, parts: PartPlan[], options: { signal?: AbortSignal } = {}): Promise<ComponentStatus[]> {
    const done: PartPlan[] = []
    const out: ComponentStatus[] = []
    try {
      for (const plan of parts) {
        const name = this.#register(pool, plan)
        this.#ending.delete(name)
        const st = await this.#engine.deploy(name, plan.config, options)
        done.push(plan)
        out.push(...st.components.map(c => ({ ...c, path: join(plan.path, c.path) })))
      }
    } catch (err) {
      for (const plan of done.reverse()) {
        await this.terminate(pool, plan.path, { type: 'abnormal', reason: 'deploy of a sibling part failed', path: plan.path }).catch(() => {})
      }
      for (const plan of parts) this.#parts.delete(enginePoolName(pool, plan.path))
      throw err
    }
    for (const plan of parts) {
      const ids = this.#byDeploy.get(deployId)?.get(plan.path) ?? []
      for (const id of ids) this.#admission?.commit(id)
      this.#byPart.set(enginePoolName(pool, plan.path), ids)
    }
    this.#byDeploy.delete(deployId)
    return out
  }

  recovered (pool: string, plan: PartPlan, epoch: number): PrepareVerdict {
    if (this.#byPart.has(enginePoolName(pool, plan.path))) return { ok: true }
    const name = this.#register(pool, plan)
    const ids: string[] = []
    const refused: string[] = []
    for (const d of domainsOf(plan)) {
      const requestId = `recovered:${pool}/${plan.path}@${epoch}|${d.path}`
      const a = this.#reserve(requestId, pool, d, epoch)
      if (a !== undefined && !a.admitted) { refused.push(`${d.path}: ${a.detail}`); continue }
      this.#admission?.commit(requestId)
      ids.push(requestId)
    }
    this.#byPart.set(name, ids)
    return refused.length === 0 ? { ok: true } : { ok: false, reason: refused.join('; ') }
  }

  async terminate (pool: string, path: string, record: TerminationRecord): Promise<ComponentStatus[] | undefined> {
    const name = enginePoolName(pool, path)
    if (!this.#parts.has(name)) return undefined
    this.#ending.add(name)
    try {
      // The engine forgets the pool once it has ended: its final states are only in this answer.
      const final = await this.#engine.terminate(name, record.type === 'normal' ? 'normal' : 'abnormal', record.reason)
      return final.components.map(c => ({ ...c, path: join(path, c.path) }))
    } finally {
      for (const id of this.#byPart.get(name) ?? []) this.#admission?.release(id)
      this.#byPart.delete(name)
    }
  }

  async terminateComponent (pool: string, path: string, record: TerminationRecord): Promise<void> {
    const at = this.#find(pool, path)
    if (at === undefined || this.#engine.terminateComponent === undefined) throw new EngineError('no part holding this component here', pool, path)
    // A remote child's record (its holder ends with it): the origin is below, where the placeholder stands.
    const origin = record.path.startsWith(`${path}:`) ? `${at.rel === '' ? '' : `${at.rel}:`}${record.path.slice(path.length + 1)}` : at.rel
    try {
      await this.#engine.terminateComponent(at.name, at.rel, record.type === 'normal' ? 'normal' : 'abnormal', record.reason, origin)
    } catch (err) {
      // Named as the operator knows it (POOL:PATH), not by the part's engine pool.
      if (err instanceof EngineError) throw new EngineError(err.message.slice(err.message.indexOf(': ') + 2), pool, path, { cause: err })
      throw err
    }
  }

  status (pool: string, path: string): ComponentStatus[] {
    try {
      return this.#engine.status(enginePoolName(pool, path))[0]?.components.map(c => ({ ...c, path: join(path, c.path) })) ?? []
    } catch { return [] }
  }

  /** The engine pool holding `path`, and the path inside it. */
  #locate (pool: string, path: string): { name: string, rel: string } {
    return this.#find(pool, path) ?? { name: enginePoolName(pool, path), rel: '' }
  }

  #find (pool: string, path: string): { name: string, rel: string } | undefined {
    let best: { name: string, path: string } | undefined
    for (const [name, p] of this.#parts) {
      if (p.pool !== pool) continue
      const under = p.path === '' || path === p.path || path.startsWith(`${p.path}:`)
      if (under && (best === undefined || p.path.length > best.path.length)) best = { name, path: p.path }
    }
    if (best === undefined) return undefined
    return { name: best.name, rel: best.path === '' ? path : path.slice(best.path.length + 1) }
  }

  // ---- LAZY references across parts ------------------------------------------------------------------------------

  connect (router: Pick<RefRouter, 'resolve'>): void {
    const resolver: RemoteResolver = {
      placement: (name) => {
        const p = this.#parts.get(name)
        return p === undefined ? undefined : { path: p.path, ...(p.parentPath !== undefined ? { parentPath: p.parentPath } : {}) }
      },
      resolve: async (name, path, ref, options: RemoteAskOptions) => {
        const p = this.#parts.get(name)
        if (p === undefined) throw new EngineError('not a part of a pool split across peers', name, path)
        return await router.resolve(p.pool, path, ref, options)
      }
    }
    this.#engine.useRemoteResolver?.(resolver)
  }

  async read (pool: string, path: string, attr?: string): Promise<SfJson> {
    const { name, rel } = this.#locate(pool, path)
    return this.#engine.read !== undefined ? await this.#engine.read(name, rel, attr) : this.#engine.get(name, rel, attr)
  }

  async resolveRef (pool: string, path: string, ref: string, options: { hops: number, budgetMs?: number }): Promise<SfJson> {
    const at = this.#find(pool, path)
    if (at === undefined) throw new PartNotReadyError(`${pool}:${path}: no part holding it on this peer (yet)`)
    const engine = this.#engine
    if (engine.resolveFrom === undefined) throw new EngineError('this engine does not resolve references for other peers', pool, path)
    try {
      return await engine.resolveFrom(at.name, at.rel, ref, options)
    } catch (err) {
      // Between the part's registration here and the engine pool's creation there is a short gap.
      if (err instanceof EngineError && /no such pool|not deployed yet/.test(err.message)) throw new PartNotReadyError(err.message, { cause: err })
      throw err
    }
  }

  get (pool: string, path: string, attr?: string): SfJson {
    const { name, rel } = this.#locate(pool, path)
    return this.#engine.get(name, rel, attr)
  }

  set (pool: string, path: string, attr: string, value: SfJson): void {
    const { name, rel } = this.#locate(pool, path)
    this.#engine.set(name, rel, attr, value)
  }

  onPartTerminated (listener: (pool: string, path: string, record: TerminationRecord) => void): () => void {
    return this.#engine.onEvent(e => {
      if (e.kind !== 'state' || e.path !== '' || (e.state !== 'terminated' && e.state !== 'failed')) return
      const part = this.#parts.get(e.pool)
      if (part === undefined || this.#ending.has(e.pool)) return
      this.#ending.add(e.pool)
      let rec: TerminationRecord | undefined
      try { rec = this.#engine.status(e.pool)[0]?.termination } catch {}
      const record: TerminationRecord = rec !== undefined ? { ...rec, path: join(part.path, rec.path) } : { type: 'abnormal', reason: e.message, path: part.path }
      listener(part.pool, part.path, record)
    })
  }
}
