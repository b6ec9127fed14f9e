import type { ComponentStatus, EngineEvent, PoolEngine, PoolStatus } from '../../node/engine/types.ts'
import { EngineError } from '../../node/engine/types.ts'
import type { SfJson, SfJsonObject } from '../../node/sf/sfjson.ts'
import { isEagerComponent } from '../../node/sf/sfjson.ts'

// An in-memory PoolEngine for the API and daemon tests: deploys a tree of components (every eager child), emits
// state events as the real one would, fails a deploy when a component says `fail true`, and records the calls the
// daemon makes (recover, start, stop, terminate) so tests can assert on them.

interface Pool { status: PoolStatus, attrs: Map<string, SfJsonObject>, logs: Map<string, string[]> }

export class FakeEngine implements PoolEngine {
  readonly calls: string[] = []
  readonly pools = new Map<string, Pool>()
  readonly host: string
  /** Milliseconds each component takes to deploy, so tests can see progress. */
  stepMs = 0
  #listeners = new Set<(e: EngineEvent) => void>()

  constructor (host = 'fakehost') { this.host = host }

  emit (pool: string, path: string, kind: EngineEvent['kind'], message: string, state?: ComponentStatus['state']): void {
    const e: EngineEvent = { time: Date.now(), host: this.host, pool, path, kind, message, ...(state ? { state } : {}) }
    for (const l of this.#listeners) l(e)
  }

  async deploy (pool: string, config: SfJsonObject): Promise<PoolStatus> {
    this.calls.push(`deploy ${pool}`)
    if (this.pools.has(pool)) throw new EngineError('already deployed', pool)
    const components: ComponentStatus[] = []
    const attrs = new Map<string, SfJsonObject>()
    const walk = (node: SfJsonObject, path: string): void => {
      components.push({ path, type: typeof node.type === 'string' ? node.type : 'Compound', host: this.host, state: 'deploying' })
      attrs.set(path, { ...node })
      for (const [k, v] of Object.entries(node)) if (isEagerComponent(v)) walk(v, path === '' ? k : `${path}:${k}`)
    }
    walk(config, '')
    const p: Pool = { status: { pool, state: 'deploying', components }, attrs, logs: new Map() }
    this.pools.set(pool, p)
    for (const c of components) {
      if (this.stepMs > 0) await new Promise(resolve => setTimeout(resolve, this.stepMs))
      else await Promise.resolve()
      if (attrs.get(c.path)?.fail === true) {
        c.state = 'failed'
        c.reason = 'sim start failure'
        this.emit(pool, c.path, 'state', 'start failed', 'failed')
        this.pools.delete(pool)
        throw new EngineError('sim start failure', pool, c.path)
      }
      c.state = 'running'
      p.logs.set(c.path, [`${c.path || 'root'} started`])
      this.emit(pool, c.path, 'state', 'running', 'running')
    }
    p.status.state = 'running'
    return structuredClone(p.status)
  }

  async terminate (pool: string, type: 'normal' | 'abnormal', reason?: string): Promise<PoolStatus> {
    this.calls.push(`terminate ${pool} ${type}`)
    const p = this.#pool(pool)
    for (const c of [...p.status.components].reverse()) {
      c.state = 'terminated'
      this.emit(pool, c.path, 'state', 'terminated', 'terminated')
    }
    p.status.state = 'terminated'
    p.status.termination = { type, reason: reason ?? 'terminated by request', path: '' }
    this.pools.delete(pool)
    return structuredClone(p.status)
  }

  status (pool?: string): PoolStatus[] {
    if (pool === undefined) return [...this.pools.values()].map(p => structuredClone(p.status))
    return [structuredClone(this.#pool(pool).status)]
  }

  get (pool: string, path: string, attr?: string): SfJson {
    const a = this.#attrs(pool, path)
    if (attr === undefined) return a
    if (!(attr in a)) throw new EngineError(`no attribute ${attr}`, pool, path)
    return a[attr]!
  }

  set (pool: string, path: string, attr: string, value: SfJson): void {
    const a = this.#attrs(pool, path)
    if (attr === 'memory' && typeof value !== 'number') throw new EngineError('memory must be an integer', pool, path)
    a[attr] = value
    this.emit(pool, path, 'attribute', `${attr} changed`)
  }

  logs (pool: string, path: string): string[] {
    this.#attrs(pool, path)
    return [...(this.#pool(pool).logs.get(path) ?? [])]
  }

  /** Appends a log line as a running component would. */
  log (pool: string, path: string, line: string): void {
    this.#pool(pool).logs.get(path)?.push(line)
    this.emit(pool, path, 'log', line)
  }

  async recover (): Promise<void> { this.calls.push('recover') }
  onEvent (listener: (e: EngineEvent) => void): () => void {
    this.#listeners.add(listener)
    return () => { this.#listeners.delete(listener) }
  }

  get listeners (): number { return this.#listeners.size }
  async start (): Promise<void> { this.calls.push('start') }
  async stop (): Promise<void> { this.calls.push('stop') }

  #pool (pool: string): Pool {
    const p = this.pools.get(pool)
    if (!p) throw new EngineError('no such pool', pool)
    return p
  }

  #attrs (pool: string, path: string): SfJsonObject {
    const a = this.#pool(pool).attrs.get(path)
    if (!a) throw new EngineError('no such component', pool, path)
    return a
  }
}
