import type { HypervisorDriver } from '../drivers/types.ts'
import type { Clock, Timer } from '../seams/clock.ts'
import type { Shell } from '../seams/shell.ts'
import { isRef } from '../sf/sfjson.ts'
import type { SfJson, SfJsonObject } from '../sf/sfjson.ts'
import type { StorageBackend } from '../storage/types.ts'
import type { ComponentRecord } from '../store/pool-store.ts'
import { lookupIn, RemoteValues } from './remote.ts'
import { asNode, DataNode, isResolveNode, RemoteNode, resolveReferenceText } from './resolve.ts'
import type { RemoteLookup, Resolved, ResolveNode } from './resolve.ts'
import { EngineError } from './types.ts'
import type { ComponentState, ComponentStatus, TerminationRecord } from './types.ts'

// The live component: SmartFrog's Prim lifecycle (deploy, start, terminate exactly once, liveness) and the record
// that goes up to the parent. A parent sees its children only through ChildHandle and a child its parent only
// through ParentLink, so the mesh can later plug in a child (or parent) that runs on another peer.

export type StorageKind = 'loopback' | 'lvm' | 'cow'

/** What a component needs from the engine that hosts it. */
export interface ComponentEnv {
  readonly host: string
  readonly pool: string
  readonly clock: Clock
  readonly driver: HypervisorDriver
  readonly storageDir: string
  /** `hostLevel`: the level in the daemon's own log when it differs from the component's (command transcripts). */
  log (c: LiveComponent, level: string, msg: string, hostLevel?: string): void
  stateChanged (c: LiveComponent): void
  /** Saves the pool's durable record; resolves once it is on disk. Writes coalesce, so a burst costs one fsync. */
  persist (): Promise<void>
  /** Saves within a short window without waiting: bursts of changes (a pool of 200 VMs) share one write. */
  persistSoon (): void
  /** True when another pool of this engine holds a domain of that name (recovery must not destroy it). */
  domainClaimedElsewhere (name: string): boolean
  makeShell (path: string, log: (line: string) => void): Shell
  makeStorage (kind: StorageKind, attrs: Record<string, SfJson>, info: { pool: string, path: string, workDir: string }): Promise<StorageBackend>
  /** Instantiates the component class named by the CD's sfClass; EngineError with the path when unknown. */
  create (name: string, cd: SfJsonObject, parent: LiveComponent): LiveComponent
  /** The rest of the pool, when this engine pool is one part of a pool split across peers (else undefined). */
  remote (): ComponentRemote | undefined
}

export interface ComponentRemote {
  /** The component above this part's root, held by another peer (absent for the pool's root part). */
  readonly parent: RemoteNode | undefined
  /** Fetches the answer to `ref` from the component at `path` of the whole pool (see RemoteResolver.resolve). */
  ask (path: string, ref: string, signal?: AbortSignal): Promise<SfJson>
}

export interface ParentLink {
  childTerminated (child: ChildHandle, record: TerminationRecord): void
}

/** How a parent drives a child: local object today, a mesh proxy later. */
export interface ChildHandle {
  readonly name: string
  readonly path: string
  readonly state: ComponentState
  deploy (): Promise<void>
  start (): Promise<void>
  terminate (record: TerminationRecord): Promise<void>
  /** Liveness check: rejects when the child is not alive. */
  ping (): Promise<void>
  statuses (): ComponentStatus[]
  /** Re-attaches after a daemon restart (pool was running). */
  resume (): Promise<void>
}

export interface ComponentInit {
  name: string
  path: string
  sfClass: string
  type: string
  cd: SfJsonObject
  parent: LiveComponent | undefined
  link: ParentLink
  env: ComponentEnv
}

export function isDown (s: ComponentState): boolean {
  return s === 'terminated' || s === 'failed'
}

export class LiveComponent implements ChildHandle, ResolveNode {
  readonly name: string
  readonly path: string
  readonly sfClass: string
  readonly type: string
  readonly env: ComponentEnv
  readonly parent: LiveComponent | undefined
  readonly link: ParentLink
  /** The live attributes: the description's, changed by `set`. */
  readonly attrs: SfJsonObject
  state: ComponentState = 'deploying'
  reason: string | undefined
  termination: TerminationRecord | undefined
  readonly lines: string[] = []
  private savedData: Record<string, unknown> = {}
  /** Attributes changed at run time (`set`); call touch() after changing them. */
  readonly overrides: Record<string, SfJson> = {}
  /** This component's durable record as JSON, kept until something in it changes (a pool file is many of these). */
  private recordText: string | undefined
  /** Rebuilt from the state dir by a restarted daemon (rather than deployed by this one). */
  protected restored = false
  private terminating: Promise<void> | undefined
  private readonly stopping = new AbortController()
  private livenessTimer: Timer | undefined
  private readonly missed = new Map<ChildHandle, number>()

  constructor (init: ComponentInit) {
    this.name = init.name
    this.path = init.path
    this.sfClass = init.sfClass
    this.type = init.type
    this.env = init.env
    this.parent = init.parent
    this.link = init.link
    this.attrs = { ...init.cd }
  }

  get parentNode (): ResolveNode | undefined { return this.parent ?? this.env.remote()?.parent }
  get pool (): string { return this.env.pool }
  /** Children, for compounds. */
  get children (): readonly ChildHandle[] { return [] }

  // ---- lifecycle -------------------------------------------------------------------------------------------------

  async deploy (): Promise<void> {
    this.setState('deploying')
    try {
      await this.withRemote(() => this.onDeploy())
    } catch (err) {
      throw this.wrap(err)
    }
    if (this.terminating) throw new EngineError('terminated while deploying', this.pool, this.path)
    this.setState('deployed')
  }

  async start (): Promise<void> {
    try {
      await this.withRemote(() => this.onStart())
    } catch (err) {
      throw this.wrap(err)
    }
    if (this.terminating) throw new EngineError('terminated while starting', this.pool, this.path)
    this.setState('running')
    this.startWatching()
  }

  /** Exactly once; later calls return the first termination's promise. */
  terminate (record: TerminationRecord): Promise<void> {
    this.terminating ??= this.doTerminate(record)
    return this.terminating
  }

  get isTerminating (): boolean { return this.terminating !== undefined }

  /** Aborted when termination begins: long host operations of deploy/start (driver start, prepare) take it. */
  get terminationSignal (): AbortSignal { return this.stopping.signal }

  private async doTerminate (record: TerminationRecord): Promise<void> {
    this.stopping.abort(new EngineError(`terminating: ${record.reason}`, this.pool, this.path))
    this.stopWatching()
    this.setState('terminating')
    let failure: string | undefined
    try {
      await this.onTerminate(record)
    } catch (err) {
      failure = (err as Error).message
      this.log('error', `termination: ${failure}`)
    }
    // The origin of an abnormal termination (and the root, which stands for the pool) ends failed; components
    // taken down with their parent end terminated, unless their own teardown failed.
    const origin = record.path === this.path || this.parent === undefined
    const failed = failure !== undefined || (record.type !== 'normal' && origin)
    this.termination = failure ? { type: 'abnormal', reason: failure, path: this.path } : record
    this.reason = failure ?? (record.type !== 'normal' ? record.reason : undefined)
    this.setState(failed ? 'failed' : 'terminated')
    this.saveLater()
    this.link.childTerminated(this, this.termination)
  }

  async ping (): Promise<void> {
    if (isDown(this.state)) throw new EngineError(`is ${this.state}`, this.pool, this.path)
    await this.onPing()
  }

  statuses (): ComponentStatus[] {
    const s: ComponentStatus = { path: this.path, type: this.type, host: this.env.host, state: this.state }
    const reason = this.reason ?? this.note()
    if (reason !== undefined) s.reason = reason
    return [s, ...this.children.flatMap(c => c.statuses())]
  }

  // ---- restart ---------------------------------------------------------------------------------------------------

  /** Rebuilds this component from its saved record (no host action). */
  restore (records: Record<string, ComponentRecord>): void {
    this.restored = true
    const rec = records[this.path]
    if (rec) {
      this.state = rec.state as ComponentState
      this.reason = rec.reason
      this.saved = rec.saved ?? {}
      for (const [k, v] of Object.entries(rec.overrides ?? {})) { this.overrides[k] = v as SfJson; this.attrs[k] = v as SfJson }
      this.recordText = undefined
      if (isDown(this.state)) this.terminating = Promise.resolve()
    }
    this.onRestore(records)
  }

  async resume (): Promise<void> {
    if (this.terminating) return
    try {
      await this.onResume()
    } catch (err) {
      void this.terminate({ type: 'abnormal', reason: `recovery: ${(err as Error).message}`, path: this.path })
      return
    }
    if (!this.terminating) { this.setState('running'); this.startWatching() }
  }

  /** Durable component-specific data (driver handle, storage record), saved with the pool. Replace, never mutate. */
  get saved (): Record<string, unknown> { return this.savedData }
  set saved (v: Record<string, unknown>) { this.savedData = v; this.recordText = undefined }

  /** Marks the durable record changed (after changing overrides). */
  touch (): void { this.recordText = undefined }

  recordJson (): string {
    this.recordText ??= JSON.stringify(this.record())
    return this.recordText
  }

  record (): ComponentRecord {
    const r: ComponentRecord = { type: this.type, state: this.state }
    if (this.reason !== undefined) r.reason = this.reason
    if (Object.keys(this.saved).length) r.saved = this.saved
    if (Object.keys(this.overrides).length) r.overrides = this.overrides
    return r
  }

  // ---- hooks for subclasses --------------------------------------------------------------------------------------

  protected async onDeploy (): Promise<void> {}
  protected async onStart (): Promise<void> {}
  protected async onTerminate (_record: TerminationRecord): Promise<void> {}
  protected async onPing (): Promise<void> {}
  protected onRestore (_records: Record<string, ComponentRecord>): void {}
  protected async onResume (): Promise<void> {}
  /** Called once running: start own watchers (domain liveness). */
  protected onRunning (): void {}
  protected onStopWatching (): void {}
  /** Shown as the status reason of a live component (placeholders say what they don't do). */
  protected note (): string | undefined { return undefined }

  // ---- parent side of liveness (sfLivenessDelay seconds, sfLivenessFactor) ---------------------------------------

  private startWatching (): void {
    this.onRunning()
    const delayS = this.numberAttrib('sfLivenessDelay', 0)
    if (delayS <= 0 || this.children.length === 0) return
    const factor = Math.max(1, this.numberAttrib('sfLivenessFactor', 2))
    const tick = (): void => {
      this.livenessTimer = this.env.clock.setTimeout(() => { void this.checkChildren(factor).then(() => { if (this.livenessTimer) tick() }) }, delayS * 1000)
    }
    tick()
  }

  /** Stops this subtree's timers without terminating anything (daemon shutdown: the guests keep running). */
  halt (): void {
    this.stopWatching()
    for (const c of this.children) if (c instanceof LiveComponent) c.halt()
  }

  private stopWatching (): void {
    this.livenessTimer?.cancel()
    this.livenessTimer = undefined
    this.onStopWatching()
  }

  private async checkChildren (factor: number): Promise<void> {
    await Promise.all(this.children.map(async child => {
      if (isDown(child.state) || this.terminating) return
      try {
        await child.ping()
        this.missed.set(child, 0)
      } catch (err) {
        const n = (this.missed.get(child) ?? 0) + 1
        this.missed.set(child, n)
        this.log('warn', `liveness: ${child.path} missed check ${n}/${factor}: ${(err as Error).message}`)
        if (n >= factor && !isDown(child.state)) {
          void child.terminate({ type: 'abnormal', reason: `liveness: ${n} missed checks (${(err as Error).message})`, path: child.path })
        }
      }
    }))
  }

  // ---- attributes ------------------------------------------------------------------------------------------------

  lookupOwn (name: string): ResolveNode | SfJson | undefined {
    if (name.startsWith('$')) return undefined
    const child = this.children.find(c => c.name === name)
    if (child) return isResolveNode(child) ? child : { $remote: child.path }
    if (!Object.hasOwn(this.attrs, name)) return undefined
    return asNode(this, name, this.attrs[name])
  }

  /** The attribute with its references resolved against the live tree (every call: LAZY is never cached). */
  resolveAttr (name: string): Resolved | undefined {
    if (!Object.hasOwn(this.attrs, name)) {
      const child = this.lookupOwn(name)
      return child
    }
    const v = this.attrs[name]
    if (isRef(v)) return resolveReferenceText(v.$ref, this, this.pool, 0, this.remoteLookup())
    return this.lookupOwn(name)
  }

  // ---- references that lead to other peers -----------------------------------------------------------------------

  /** Answers fetched from other peers for the steps under way (deploy, start, get), each kept for its step only. */
  private readonly fetched = new Set<RemoteValues>()

  private remoteLookup (): RemoteLookup | undefined {
    return this.env.remote() === undefined ? undefined : lookupIn(this.fetched, this.pool)
  }

  /**
   * Runs `step` after fetching, through the mesh, what the lookups of `names` (default: every attribute that is a
   * reference) need from other peers. Other resolution errors are left for the step's own lookups to raise.
   */
  async withRemote<T> (step: () => Promise<T> | T, names?: string[]): Promise<T> {
    const remote = this.env.remote()
    if (remote === undefined) return await step()
    const values = new RemoteValues()
    this.fetched.add(values)
    try {
      const attrs = names ?? Object.keys(this.attrs).filter(k => isRef(this.attrs[k]))
      await values.fill(() => {
        for (const n of attrs) {
          try { this.resolveAttr(n) } catch (err) { if ((err as Error).name === 'RemoteRefPending') throw err }
        }
      }, (path, ref) => remote.ask(path, ref, this.terminationSignal))
      return await step()
    } finally {
      this.fetched.delete(values)
    }
  }

  /** A resolved scalar attribute (LAZY references followed); undefined when absent. */
  value (name: string): SfJson | undefined {
    const v = this.resolveAttr(name)
    if (v === undefined) return undefined
    if (isResolveNode(v)) {
      if (v instanceof DataNode) return v.value
      throw new EngineError(`attribute ${name} is a component${v instanceof RemoteNode ? ` held by another peer (${v.path}${v.host ? ` on ${v.host}` : ''})` : ''}, not a value`, this.pool, this.path)
    }
    return v
  }

  string (name: string): string | undefined {
    const v = this.value(name)
    if (v === undefined || v === null) return undefined
    if (typeof v !== 'string') throw new EngineError(`attribute ${name} must be a string, not ${JSON.stringify(v)}`, this.pool, this.path)
    return v
  }

  number (name: string, dflt: number): number {
    const v = this.value(name)
    if (v === undefined || v === null) return dflt
    const n = typeof v === 'string' && /^-?\d+(\.\d+)?$/.test(v.trim()) ? Number(v) : v
    if (typeof n !== 'number' || !Number.isFinite(n)) throw new EngineError(`attribute ${name} must be a number, not ${JSON.stringify(v)}`, this.pool, this.path)
    return n
  }

  /** Booleans written as strings ("false", as lvmVm.sf does for keepVolumes) count too. */
  bool (name: string, dflt: boolean): boolean {
    const v = this.value(name)
    if (v === undefined || v === null) return dflt
    if (v === true || v === 'true') return true
    if (v === false || v === 'false') return false
    throw new EngineError(`attribute ${name} must be a boolean, not ${JSON.stringify(v)}`, this.pool, this.path)
  }

  /** SmartFrog's ATTRIB lookup for liveness parameters: own attribute, else the nearest ancestor's. */
  numberAttrib (name: string, dflt: number): number {
    for (let c: LiveComponent | undefined = this; c; c = c.parent) {
      if (Object.hasOwn(c.attrs, name)) return c.number(name, dflt)
    }
    return dflt
  }

  /** The component an attribute's (LAZY) reference points at. */
  component (name: string): LiveComponent | undefined {
    const v = this.resolveAttr(name)
    if (v === undefined || v === null) return undefined
    if (v instanceof RemoteNode) {
      const where = v.host === this.env.host ? `in another part of the pool (deployed apart on ${v.host})` : `a component on ${v.host ?? 'another host'}, not on ${this.env.host}`
      throw new EngineError(`attribute ${name} leads to ${v.path}, ${where}: a component can only use components of its own host and part (a VM cannot use a disk of another host)`, this.pool, this.path)
    }
    if (!(v instanceof LiveComponent)) throw new EngineError(`attribute ${name} does not lead to a live component`, this.pool, this.path)
    return v
  }

  // ---- plumbing --------------------------------------------------------------------------------------------------

  /**
   * Queues a save without waiting for it. Used where a lost write is harmless because recovery can tell the same
   * from the description (names and work dirs are derived from it) or because the step is idempotent.
   */
  saveLater (): void {
    this.env.persistSoon()
  }

  log (level: string, msg: string): void {
    this.env.log(this, level, msg)
  }

  /**
   * A line of a host command's transcript: kept in this component's log (`sdpeer logs`) at info, but only at debug
   * in the daemon's log, where a pool of 200 VMs would otherwise write 600 lines that `sdpeer logs` already holds.
   * Standard error and failed or timed-out commands stay at info there.
   */
  transcript (line: string): void {
    const routine = line.startsWith('$ ') || line.startsWith('| ') || /^= exit 0 /.test(line)
    this.env.log(this, 'info', line, routine ? 'debug' : 'info')
  }

  protected setState (s: ComponentState): void {
    if (this.state === s) return
    this.state = s
    this.recordText = undefined
    this.env.stateChanged(this)
  }

  protected wrap (err: unknown): EngineError {
    if (err instanceof EngineError && err.path !== undefined) return err
    const msg = err instanceof Error ? err.message : String(err)
    return new EngineError(msg, this.pool, this.path, { cause: err })
  }
}
