import type { SfJsonObject } from '../sf/sfjson.ts'
import type { PoolRecord } from '../store/pool-store.ts'
import { LiveComponent } from './component.ts'
import type { ChildHandle, ParentLink } from './component.ts'
import { EngineError } from './types.ts'
import type { PoolStatus, TerminationRecord } from './types.ts'

// One deployed pool: its root component and the link that receives the root's termination record (the pool's
// end). Knows how to find a component by path and how to snapshot itself for the durable store.

export class LivePool implements ParentLink {
  readonly name: string
  readonly host: string
  readonly config: SfJsonObject
  root: LiveComponent | undefined
  termination: TerminationRecord | undefined
  private readonly onEnd: (pool: LivePool, record: TerminationRecord) => void

  constructor (name: string, host: string, config: SfJsonObject, onEnd: (pool: LivePool, record: TerminationRecord) => void) {
    this.name = name
    this.host = host
    this.config = config
    this.onEnd = onEnd
  }

  childTerminated (_child: ChildHandle, record: TerminationRecord): void {
    this.termination = record
    this.onEnd(this, record)
  }

  get finished (): boolean {
    return this.termination !== undefined
  }

  status (): PoolStatus {
    const root = this.root
    const s: PoolStatus = {
      pool: this.name,
      // A pool whose description could not even be instantiated has no root but has failed.
      state: root?.state ?? (this.termination ? 'failed' : 'deploying'),
      components: root ? root.statuses() : []
    }
    // The root's record is set before its state turns final, the pool's link hears of it a little later.
    const record = this.termination ?? (root && (root.state === 'terminated' || root.state === 'failed') ? root.termination : undefined)
    if (record) s.termination = record
    return s
  }

  find (path: string): LiveComponent {
    let c = this.root
    if (!c) throw new EngineError('pool has no components yet', this.name, path)
    if (path === '') return c
    for (const name of path.split(':')) {
      const next: ChildHandle | undefined = c.children.find(k => k.name === name)
      if (!next) throw new EngineError('no such component', this.name, path)
      if (!(next instanceof LiveComponent)) throw new EngineError('component runs on another host', this.name, path)
      c = next
    }
    return c
  }

  components (): LiveComponent[] {
    const out: LiveComponent[] = []
    const visit = (c: LiveComponent): void => {
      out.push(c)
      for (const k of c.children) if (k instanceof LiveComponent) visit(k)
    }
    if (this.root) visit(this.root)
    return out
  }

  private configText: string | undefined

  /**
   * The pool's record as JSON text, built from the components' cached record texts: a save after one component
   * changed costs one small stringify plus a concatenation, not a stringify of the whole pool.
   */
  snapshotText (): string {
    this.configText ??= JSON.stringify(this.config)
    const head = { version: 1, pool: this.name, host: this.host, state: this.root?.state ?? 'deploying' }
    const parts = this.components().map(c => `${JSON.stringify(c.path)}:${c.recordJson()}`)
    const tail = this.termination ? `,"termination":${JSON.stringify(this.termination)}` : ''
    return `${JSON.stringify(head).slice(0, -1)},"config":${this.configText},"components":{${parts.join(',')}}${tail}}\n`
  }

  snapshot (): PoolRecord {
    const rec: PoolRecord = {
      version: 1,
      pool: this.name,
      host: this.host,
      state: this.root?.state ?? 'deploying',
      config: this.config,
      components: {}
    }
    for (const c of this.components()) rec.components[c.path] = c.record()
    if (this.termination) rec.termination = this.termination
    return rec
  }
}
