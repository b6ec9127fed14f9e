import type { HypervisorDriver } from '../drivers/types.ts'
import { realClock } from '../seams/clock.ts'
import type { Clock, Timer } from '../seams/clock.ts'
import type { SfJson, SfJsonObject } from '../sf/sfjson.ts'
import { checkPoolName, PoolStore } from '../store/pool-store.ts'
import type { PoolRecord } from '../store/pool-store.ts'
import { join } from 'node:path'
import { LiveComponent, isDown } from './component.ts'
import type { ComponentEnv, ComponentRemote, ParentLink } from './component.ts'
import { defaultShellFactory, defaultStorageFactory } from './host-io.ts'
import type { LvmDefaults, ShellFactory, StorageFactory } from './host-io.ts'
import { LivePool } from './pool.ts'
import { ComponentRegistry } from './registry.ts'
import type { ComponentFactory } from './registry.ts'
import { isResolveNode, RemoteNode, resolveReferenceText } from './resolve.ts'
import type { Resolved, ResolveNode } from './resolve.ts'
import { lookupIn, RemoteValues, toWire } from './remote.ts'
import type { RemoteAskOptions, RemoteResolver } from './remote.ts'
import { defaultCheckAttribute } from './schema-check.ts'
import type { CheckAttribute } from './schema-check.ts'
import { EngineError } from './types.ts'
import { createImageResolver } from '../images/resolve.ts'
import type { ResolveImage } from '../storage/image-base.ts'
import type { DeployOptions, EngineEvent, PoolEngine, PoolStatus, TerminationRecord } from './types.ts'

export interface EngineOptions {
  /** This host's name (component status `host`). */
  host: string
  /** Durable state lives under stateDir/pools/. */
  stateDir: string
  driver: HypervisorDriver
  clock?: Clock
  /** Where loopback images / overlays go; default stateDir/storage. */
  storageDir?: string
  /** For the lvm stand-in in tests. */
  lvm?: LvmDefaults
  log?: (entry: { level: string, host: string, pool?: string, path?: string, msg: string }) => void
  /** Host command runner per component; default node/seams/execa-shell.ts's ExecaShell (or a local stand-in). */
  shell?: ShellFactory
  /** Storage backends; default the node/storage/ factories (loopbackBackend, lvmBackend, cowBackend). */
  storage?: StorageFactory
  /**
   * Turns `baseImage "image:NAME"` into a warehouse file for the default storage factory: the daemon passes its
   * ImageService's resolver (which fetches from peers). Default: this host's warehouse under stateDir, no fetching.
   */
  resolveImage?: ResolveImage
  /** Extra component classes by sfClass (tests, later the scheduler). */
  components?: Record<string, ComponentFactory>
  /** Schema check for `set`; default node/sf/schemas.ts's checkAttribute. */
  checkAttribute?: CheckAttribute
  /**
   * How long a pool that ended without being asked (a failed deploy nobody waited on, a pool taken down by a crashed
   * VM under sfSyncTerminate) stays in `status` with its reason before it is forgotten. Default one hour. Kept in
   * memory only: its resources are gone and its state file removed, so a restarted daemon does not list it.
   */
  finishedRetentionMs?: number
}

const MAX_LINES = 5000
const FINISHED_RETENTION_MS = 3_600_000
/**
 * Window of lazy saves. What they record is either derivable again from the description (domain names, work dirs)
 * or idempotent to redo (teardown), so losing the last window to a crash costs nothing; saves that must precede an
 * action (the config before deploying, LVM volume records, `running`) are written at once and awaited.
 * Each write rewrites the whole pool file (an fsync and, for 200 VMs, ~100 KB), so the window bounds the cost of a
 * long deploy at one write per window: 250 ms keeps a 200-VM deploy to a few dozen writes (50 ms made it ~100).
 */
const SAVE_WINDOW_MS = 250

export class Engine implements PoolEngine {
  private readonly opts: EngineOptions
  private readonly clock: Clock
  private readonly store: PoolStore
  private readonly registry: ComponentRegistry
  private readonly storageDir: string
  private readonly pools = new Map<string, LivePool>()
  private readonly listeners = new Set<(e: EngineEvent) => void>()
  private shellFactory: ShellFactory | undefined
  private readonly check: CheckAttribute
  private readonly ended = new Map<string, Promise<void>>()
  private readonly storage: StorageFactory
  private remoteResolver: RemoteResolver | undefined

  constructor (options: EngineOptions) {
    this.opts = options
    this.clock = options.clock ?? realClock
    this.store = new PoolStore(options.stateDir)
    this.registry = new ComponentRegistry(options.components)
    this.storageDir = options.storageDir ?? join(options.stateDir, 'storage')
    this.shellFactory = options.shell
    this.check = options.checkAttribute ?? defaultCheckAttribute
    this.storage = options.storage ?? defaultStorageFactory({ resolveImage: options.resolveImage ?? createImageResolver({ stateDir: options.stateDir }) })
  }

  async start (): Promise<void> {
    this.shellFactory ??= await defaultShellFactory()
  }

  async stop (): Promise<void> {
    for (const t of this.retention.values()) t.cancel()
    this.retention.clear()
    for (const p of this.pools.values()) p.root?.halt()
    // Lazy saves are written now, and writes already under way (a `set`'s) finish: the next daemon must find what
    // this one knew.
    await Promise.all([...this.soon.keys()].map(p => this.persist(p).catch(err => this.hostLog('error', `saving state: ${(err as Error).message}`, p.name))))
    await this.store.idle()
  }

  useRemoteResolver (resolver: RemoteResolver | undefined): void {
    this.remoteResolver = resolver
  }

  onEvent (listener: (e: EngineEvent) => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  // ---- deploy / terminate ----------------------------------------------------------------------------------------

  async deploy (pool: string, config: SfJsonObject, options: DeployOptions = {}): Promise<PoolStatus> {
    const bad = checkPoolName(pool)
    if (bad) throw new EngineError(bad, pool)
    const existing = this.pools.get(pool)
    if (existing && !existing.finished) throw new EngineError('a pool of this name is already deployed', pool)
    // An ended pool of the same name may still be removing its state file: let it finish, or it removes ours.
    await (this.ended.get(pool) ?? Promise.resolve())
    const racing = this.pools.get(pool)
    if (racing && racing !== existing && !racing.finished) throw new EngineError('a pool of this name is already deployed', pool)
    if (!this.shellFactory) await this.start()
    const p = this.newPool(pool, config)
    this.pools.set(pool, p)
    const signal = options.signal
    let aborted: unknown
    const onAbort = (): void => {
      aborted = signal?.reason ?? new Error('aborted')
      void p.root?.terminate({ type: 'abnormal', reason: `deploy aborted: ${String((aborted as Error)?.message ?? aborted)}`, path: '' })
    }
    try {
      if (signal?.aborted) throw signal.reason ?? new Error('aborted')
      signal?.addEventListener('abort', onAbort, { once: true })
      const root = this.env(p).create('', config, undefined)
      p.root = root
      await this.persist(p)
      await root.deploy()
      await root.start()
      if (aborted !== undefined) throw aborted
      await this.persist(p)
      return p.status()
    } catch (err) {
      const e = aborted !== undefined
        ? new EngineError(`deploy aborted: ${(aborted as Error)?.message ?? String(aborted)}`, pool, undefined, { cause: err })
        : err instanceof EngineError ? err : new EngineError(`deploy failed: ${(err as Error)?.message ?? String(err)}`, pool, undefined, { cause: err })
      const record: TerminationRecord = { type: 'abnormal', reason: e.message, path: e.path ?? '' }
      if (p.root) await p.root.terminate(record)
      await (this.ended.get(pool) ?? Promise.resolve())
      await this.store.remove(pool)
      if (this.pools.get(pool) === p) {
        if (options.keepFailed === true) {
          p.termination ??= record
          this.retain(p)
        } else {
          this.forget(p)
        }
      }
      throw e
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }

  async terminate (pool: string, type: 'normal' | 'abnormal', reason?: string): Promise<PoolStatus> {
    const p = this.pool(pool)
    if (p.root && !p.finished) await p.root.terminate({ type, reason: reason ?? `terminated by request (${type})`, path: '' })
    await (this.ended.get(pool) ?? Promise.resolve())
    this.forget(p)
    return p.status()
  }

  /**
   * Terminates one component and its children (path '' is the whole pool, as terminate()). Its record then goes to
   * its parent as when it ends by itself: the parent's sfSyncTerminate decides whether the parent ends too. The
   * component stays listed, terminated (or failed), while the rest of the pool runs on.
   */
  async terminateComponent (pool: string, path: string, type: 'normal' | 'abnormal', reason?: string, origin = path): Promise<PoolStatus> {
    if (path === '') return await this.terminate(pool, type, reason)
    const p = this.pool(pool)
    const c = p.find(path)
    if (!isDown(c.state)) {
      await c.terminate({ type, reason: reason ?? `terminated by request (${type})`, path: origin })
      // Each parent decides at once (sfSyncTerminate): the ancestors that share its fate are awaited too, bottom up.
      for (let up = c.parent; up?.isTerminating === true; up = up.parent) await up.terminate({ type, reason: '', path })
    }
    if (p.finished) await (this.ended.get(pool) ?? Promise.resolve())
    else await this.persist(p)
    return p.status()
  }

  private forget (p: LivePool): void {
    if (this.pools.get(p.name) === p) this.pools.delete(p.name)
    this.retention.get(p)?.cancel()
    this.retention.delete(p)
  }

  /** Timers that forget ended pools, by pool. */
  private readonly retention = new Map<LivePool, Timer>()

  /** Keeps an ended pool listed (state and reason, nothing on the host) for the retention time, then forgets it. */
  private retain (p: LivePool): void {
    if (this.retention.has(p)) return
    const ms = this.opts.finishedRetentionMs ?? FINISHED_RETENTION_MS
    this.retention.set(p, this.clock.setTimeout(() => {
      this.retention.delete(p)
      if (this.pools.get(p.name) === p && p.finished) {
        this.pools.delete(p.name)
        this.hostLog('info', 'ended pool forgotten after its retention time', p.name)
      }
    }, ms))
  }

  private newPool (pool: string, config: SfJsonObject): LivePool {
    return new LivePool(pool, this.opts.host, config, (lp, record) => {
      this.emit({ pool: lp.name, path: '', kind: 'state', state: lp.root?.state, message: `pool ${record.type}: ${record.reason}` })
      // The pool is down and everything it created is gone: nothing left for a restarted daemon to do.
      this.ended.set(lp.name, this.store.remove(lp.name).catch(err => this.hostLog('error', `removing state of ${lp.name}: ${(err as Error).message}`, lp.name)))
      // A pool that ended by itself stays listed for a while; terminate() and a failed waited-on deploy drop it now.
      this.retain(lp)
    })
  }

  // ---- queries ---------------------------------------------------------------------------------------------------

  status (pool?: string): PoolStatus[] {
    if (pool !== undefined) return [this.pool(pool).status()]
    return [...this.pools.values()].sort((a, b) => a.name.localeCompare(b.name)).map(p => p.status())
  }

  get (pool: string, path: string, attr?: string): SfJson {
    const c = this.pool(pool).find(path)
    const prefix = this.remoteResolver?.placement(pool)?.path ?? ''
    if (attr !== undefined) {
      const v = c.resolveAttr(attr)
      if (v === undefined) throw new EngineError(`no attribute ${attr}`, pool, path)
      return toWire(v, prefix)
    }
    const out: SfJsonObject = {}
    for (const name of Object.keys(c.attrs)) {
      if (name.startsWith('$')) continue
      try {
        out[name] = toWire(c.resolveAttr(name) ?? null, prefix)
      } catch (err) {
        out[name] = { $error: (err as Error).message }
      }
    }
    return out
  }

  async read (pool: string, path: string, attr?: string): Promise<SfJson> {
    const c = this.pool(pool).find(path)
    const names = attr !== undefined ? [attr] : Object.keys(c.attrs).filter(k => !k.startsWith('$'))
    return await c.withRemote(() => this.get(pool, path, attr), names)
  }

  async resolveFrom (pool: string, path: string, ref: string, options: RemoteAskOptions): Promise<SfJson> {
    const root = this.pool(pool).root
    if (root === undefined) throw new EngineError('not deployed yet', pool, path)
    // Through lookupOwn rather than find(): a component its parent has not created yet answers from its description.
    let node: ResolveNode = root
    for (const name of path === '' ? [] : path.split(':')) {
      const next = node.lookupOwn(name)
      if (!isResolveNode(next)) throw new EngineError('no such component', pool, path)
      node = next
    }
    const r = this.remoteResolver
    const at = r?.placement(pool)
    const values = new RemoteValues()
    const lookup = r !== undefined && at !== undefined ? lookupIn([values], pool) : undefined
    let out: Resolved = null
    await values.fill(() => { out = resolveReferenceText(ref, node, pool, 0, lookup) },
      async (p, t) => await (r as RemoteResolver).resolve(pool, p, t, { ...options, hops: options.hops + 1 }))
    return toWire(out, at?.path ?? '', this.opts.host)
  }

  set (pool: string, path: string, attr: string, value: SfJson): void {
    const c = this.pool(pool).find(path)
    if (isDown(c.state) || c.isTerminating) throw new EngineError(`cannot set ${attr}: component is ${c.state}`, pool, path)
    if (!/^[A-Za-z_][A-Za-z0-9_-]*$/.test(attr)) throw new EngineError(`invalid attribute name ${JSON.stringify(attr)}`, pool, path)
    const bad = this.check(c.sfClass, attr, value)
    if (bad) throw new EngineError(bad, pool, path)
    const before = Object.hasOwn(c.attrs, attr) ? c.attrs[attr] : undefined
    c.attrs[attr] = value
    c.overrides[attr] = value
    c.touch()
    // Termination-time attributes are checked now, so a value that would stop the teardown is refused up front.
    if (typeof (c as { teardownOptions?: () => unknown }).teardownOptions === 'function') {
      try {
        (c as unknown as { teardownOptions: () => unknown }).teardownOptions()
      } catch (err) {
        if (before === undefined) delete c.attrs[attr]; else c.attrs[attr] = before
        delete c.overrides[attr]
        c.touch()
        throw err
      }
    }
    c.log('info', `set ${attr} ${JSON.stringify(value)}`)
    this.emit({ pool, path, kind: 'attribute', message: `${attr} = ${JSON.stringify(value)}` })
    void this.persist(this.pool(pool)).catch(err => c.log('error', `saving state: ${(err as Error).message}`))
  }

  logs (pool: string, path: string): string[] {
    const c = this.pool(pool).find(path)
    // A VM adds its guest's console after its own lines (XenDomain.consoleLines).
    const guestConsole = (c as { consoleLines?: () => string[] }).consoleLines?.() ?? []
    return [...c.lines, ...guestConsole]
  }

  // ---- restart ---------------------------------------------------------------------------------------------------

  async recover (): Promise<void> {
    if (!this.shellFactory) await this.start()
    // Every pool is rebuilt before any is acted on, so a half-deployed pool's cleanup sees all names in use.
    const rebuilt: Array<{ rec: PoolRecord, p: LivePool, root: LiveComponent }> = []
    for (const rec of await this.store.list()) {
      if (this.pools.has(rec.pool)) continue
      const p = this.newPool(rec.pool, rec.config as SfJsonObject)
      let root: LiveComponent
      try {
        root = this.env(p).create('', p.config, undefined)
        p.root = root
        root.restore(rec.components)
      } catch (err) {
        this.hostLog('error', `cannot rebuild pool from its state file: ${(err as Error).message}`, rec.pool)
        continue
      }
      this.pools.set(rec.pool, p)
      rebuilt.push({ rec, p, root })
    }
    for (const { rec, p, root } of rebuilt) {
      if (rec.state === 'running') {
        this.hostLog('info', 're-attaching to running pool', rec.pool)
        await root.resume()
      } else if (isDown(root.state)) {
        p.termination = (rec.termination as TerminationRecord | undefined) ?? { type: 'abnormal', reason: 'ended', path: '' }
        await this.store.remove(rec.pool)
        this.retain(p)
      } else {
        this.hostLog('warn', `pool was ${rec.state} when the daemon stopped: terminating it`, rec.pool)
        await root.terminate({ type: 'abnormal', reason: `daemon restarted while the pool was ${rec.state}`, path: '' })
        await (this.ended.get(rec.pool) ?? Promise.resolve())
      }
    }
  }

  // ---- plumbing --------------------------------------------------------------------------------------------------

  private pool (pool: string): LivePool {
    const p = this.pools.get(pool)
    if (!p) throw new EngineError('no such pool', pool)
    return p
  }

  /** Pools with a lazy save pending, and its timer. */
  private readonly soon = new Map<LivePool, Timer>()

  private persistSoon (p: LivePool): void {
    if (this.soon.has(p)) return
    this.soon.set(p, this.clock.setTimeout(() => {
      this.soon.delete(p)
      this.persist(p).catch(err => this.hostLog('error', `saving state: ${(err as Error).message}`, p.name))
    }, SAVE_WINDOW_MS))
  }

  private persist (p: LivePool): Promise<void> {
    this.soon.get(p)?.cancel()
    this.soon.delete(p)
    if (p.finished && p.root && isDown(p.root.state)) return Promise.resolve()
    return this.store.save(p.name, () => p.snapshotText())
  }

  private env (p: LivePool): ComponentEnv & { create: (name: string, cd: SfJsonObject, parent: LiveComponent | undefined) => LiveComponent } {
    const engine = this
    const o = this.opts
    const env = {
      host: o.host,
      pool: p.name,
      clock: this.clock,
      driver: o.driver,
      storageDir: this.storageDir,
      log (c: LiveComponent, level: string, msg: string, hostLevel?: string): void {
        c.lines.push(`${level}: ${msg}`)
        if (c.lines.length > MAX_LINES) c.lines.splice(0, c.lines.length - MAX_LINES)
        o.log?.({ level: hostLevel ?? level, host: o.host, pool: p.name, path: c.path, msg })
        engine.emit({ pool: p.name, path: c.path, kind: 'log', message: msg })
      },
      stateChanged (c: LiveComponent): void {
        engine.emit({ pool: p.name, path: c.path, kind: 'state', state: c.state, message: c.reason ?? c.state })
      },
      persist: (): Promise<void> => this.persist(p),
      persistSoon: (): void => this.persistSoon(p),
      domainClaimedElsewhere: (name: string): boolean => this.domainClaimedElsewhere(p, name),
      makeShell: (path: string, log: (line: string) => void) => (this.shellFactory ?? ((_p, l) => { throw new EngineError(`engine not started (${l.name})`, p.name, path) }))(path, log),
      makeStorage: async (kind, attrs, info) => await this.storage(kind, attrs, { ...info, lvm: o.lvm }),
      remote: (): ComponentRemote | undefined => {
        const r = this.remoteResolver
        const at = r?.placement(p.name)
        if (r === undefined || at === undefined) return undefined
        return {
          parent: at.parentPath !== undefined ? new RemoteNode(at.parentPath) : undefined,
          ask: async (path, ref, signal) => await r.resolve(p.name, path, ref, { hops: 0, ...(signal !== undefined ? { signal } : {}) })
        }
      },
      create (name: string, cd: SfJsonObject, parent: LiveComponent | undefined): LiveComponent {
        const path = parent === undefined ? '' : parent.path ? `${parent.path}:${name}` : name
        const sfClass = cd.sfClass
        if (typeof sfClass !== 'string') throw new EngineError('component has no sfClass', p.name, path)
        const cls = engine.registry.lookup(sfClass)
        if (!cls) throw new EngineError(`unknown sfClass ${JSON.stringify(sfClass)}`, p.name, path)
        const link: ParentLink = parent === undefined ? p : parent as unknown as ParentLink
        return cls.factory({ name, path, sfClass, type: cls.type, cd, parent, link, env })
      }
    } satisfies ComponentEnv
    return env
  }

  private domainClaimedElsewhere (self: LivePool, name: string): boolean {
    for (const p of this.pools.values()) {
      if (p === self) continue
      for (const c of p.components()) {
        if (c.saved.domainName === name || (c.saved.handle as { name?: string } | undefined)?.name === name) return true
      }
    }
    return false
  }

  private hostLog (level: string, msg: string, pool?: string): void {
    this.opts.log?.({ level, host: this.opts.host, pool, msg })
  }

  private emit (e: Omit<EngineEvent, 'time' | 'host'>): void {
    if (this.listeners.size === 0) return
    const ev: EngineEvent = { time: this.clock.now(), host: this.opts.host, ...e }
    if (ev.state === undefined) delete ev.state
    for (const l of this.listeners) {
      try { l(ev) } catch { /* a listener's failure is its own */ }
    }
  }
}
