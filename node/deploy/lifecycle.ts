import type { Clock, Timer } from '../seams/clock.ts'
import type { ComponentStatus, TerminationRecord } from '../engine/types.ts'
import { coordinatorOf } from '../scheduler/coordinator.ts'
import { releaseClaims } from './claims.ts'
import type { ClaimClient } from './claims.ts'
import { requestUntilDone, requestWithRetry } from './retry.ts'
import type { PoolRegistry } from './registry.ts'
import { participantsOf } from './registry.ts'
import { replaceable } from './orphans.ts'
import { ComponentTerminateUnsupportedError, PathNotFoundError } from './errors.ts'
import { childStatus, holderOf } from './child-records.ts'
import type { ChildRecord } from './child-records.ts'
import type { DeployTimings, DeployTransport, OrphanDecision, OrphanPolicy, PartEngine, PartPlan, RemoteChild } from './types.ts'

// SmartFrog's lifecycle across peers, for the parts this peer holds once committed:
// - a part that ends on its own sends its termination record to its parent's peer, which records it (status lists
//   the child with its reason) and stops pinging it; as Compound does on one host, the component holding that child
//   decides: with sfSyncTerminate it terminates too (its other remote children first, in reverse order, one by one
//   when sfSyncTerminate, else all at once, then its local components) and reports upwards in turn; without, it
//   runs on;
// - a parent pings each remote child every sfLivenessDelay; `sfLivenessFactor` failed pings in a row count as
//   the child's abnormal termination (its host named when the mesh declared it dead), recorded and decided the same
//   way; so is a pinned VM the pool's coordinator marked failed. A re-placeable part's silence is not (a scheduled
//   VM, a part whose plan the pool record holds): the coordinator deploys it again elsewhere;
// - a child counts its parent's pings; when more than sfLivenessFactor are missed, its parent's host is presumed
//   dead and the child reports to the pool's coordinator (first live participant in HRW order, as the scheduler
//   computes it), whose OrphanPolicy decides: terminate (SmartFrog's answer) or keep it for re-parenting.

export type PartState = 'running' | 'terminating' | 'terminated'

export interface LivePart {
  pool: string
  plan: PartPlan
  participants: string[]
  /** Placement generation (1 at deploy, more once re-placed): a record at a higher one elsewhere fences this copy. */
  epoch: number
  state: PartState
  lastPingAt: number
  /** The parent's first ping arrived (until then the parent may still be committing its own part). */
  pinged: boolean
  missed: Map<string, number>
  timers: Timer[]
  /** True once reported as an orphan and kept by the coordinator's decision. */
  orphaned: boolean
  /** Remote children that ended, or were terminated on purpose with a component of this part: not pinged. */
  ended: Set<string>
  /** Termination records of remote children that ended while this part went on (or before it followed them). */
  childRecords: Map<string, ChildRecord>
  termination?: TerminationRecord
  finalStatus?: ComponentStatus[]
  done?: Promise<void>
}

export interface LifecycleInit {
  self: string
  clock: Clock
  transport: DeployTransport
  engine: PartEngine
  registry: PoolRegistry
  claimClient: ClaimClient
  isLive: (peer: string) => boolean
  orphanPolicy: OrphanPolicy
  timings: DeployTimings
  log: (message: string, context: Record<string, unknown>) => void
}

export interface TerminateOptions {
  /** Send the record to the parent's peer (or, for the root, end the pool in the registry). */
  report: boolean
  /** Terminate remote children first (false: the caller terminates every part itself). */
  cascade: boolean
  /** The remote child whose record started this: already gone. */
  skipChild?: string
}

const key = (pool: string, path: string): string => `${pool}\u0000${path}`

export class PartLifecycle {
  readonly #i: LifecycleInit
  readonly #parts = new Map<string, LivePart>()

  constructor (init: LifecycleInit) {
    this.#i = init
  }

  get (pool: string, path: string): LivePart | undefined { return this.#parts.get(key(pool, path)) }

  parts (pool: string): LivePart[] {
    return [...this.#parts.values()].filter(p => p.pool === pool)
  }

  adopt (pool: string, plan: PartPlan, participants: string[], epoch = 1): LivePart {
    const part: LivePart = { pool, plan, participants, epoch, state: 'running', lastPingAt: this.#i.clock.now(), pinged: false, missed: new Map(), timers: [], orphaned: false, ended: new Set(), childRecords: new Map() }
    this.#parts.set(key(pool, plan.path), part)
    if (plan.livenessDelayMs > 0) {
      if (plan.remoteChildren.length > 0) this.#every(part, plan.livenessDelayMs, () => this.#pingChildren(part))
      if (plan.parentPeer !== undefined) this.#every(part, plan.livenessDelayMs, () => this.#watchParent(part))
    }
    return part
  }

  forget (pool: string, paths: string[]): void {
    for (const p of paths) { this.#stopTimers(this.#parts.get(key(pool, p))); this.#parts.delete(key(pool, p)) }
  }

  stop (): void {
    for (const p of this.#parts.values()) this.#stopTimers(p)
  }

  status (pool: string): { components: ComponentStatus[], termination?: TerminationRecord } {
    const components: ComponentStatus[] = []
    let termination: TerminationRecord | undefined
    for (const p of this.parts(pool)) {
      components.push(...(p.finalStatus ?? this.#i.engine.status(pool, p.plan.path)))
      for (const [path, r] of p.childRecords) components.push(childStatus(path, r))
      if (p.plan.path === '' && p.termination !== undefined) termination = p.termination
    }
    return termination !== undefined ? { components, termination } : { components }
  }

  /** The engine says a part's root ended on its own. */
  partEnded (pool: string, path: string, record: TerminationRecord): void {
    const part = this.get(pool, path)
    if (part === undefined || part.state !== 'running') return
    void this.terminate(pool, path, record, { report: true, cascade: true })
  }

  /** A remote child's termination record arrived: recorded; the component holding the child decides the rest. */
  childTerminated (pool: string, childPath: string, record: TerminationRecord): boolean {
    const parent = this.parts(pool).find(p => p.plan.remoteChildren.some(c => c.path === childPath))
    const child = parent?.plan.remoteChildren.find(c => c.path === childPath)
    if (parent === undefined || child === undefined || parent.state !== 'running') return false
    // Liveness may have given up on it first (it stops answering pings while it terminates): its own record says why.
    const had = parent.childRecords.get(childPath)
    if (had !== undefined) { parent.childRecords.set(childPath, { ...had, record }); return true }
    if (parent.ended.has(childPath)) return true
    this.#childEnded(parent, child, this.childNow(pool, child).host, record)
    return true
  }

  /**
   * A remote child ended (its record, or liveness): recorded on its parent's part, no longer pinged; then, as
   * Compound.childTerminated on one host, the component holding it ends too only under sfSyncTerminate — the part
   * itself (reporting upwards), or one of its components (whose own parent decides next, in the engine).
   */
  #childEnded (part: LivePart, c: RemoteChild, host: string, record: TerminationRecord): void {
    const { pool, plan } = part
    part.ended.add(c.path)
    part.childRecords.set(c.path, { host, record })
    const holder = holderOf(plan, c.path)
    this.#i.log('remote child terminated', { pool, path: c.path, host, type: record.type, reason: record.reason, holder: holder.path, sfSyncTerminate: holder.sync })
    if (!holder.sync || part.state !== 'running') return
    if (holder.path === plan.path || this.#i.engine.terminateComponent === undefined) {
      void this.terminate(pool, plan.path, record, { report: true, cascade: true, skipChild: c.path })
      return
    }
    this.terminateComponent(pool, plan.path, holder.path, record).catch(err => {
      this.#i.log('holder of an ended remote child failed to terminate', { pool, path: holder.path, error: (err as Error).message })
    })
  }

  /** The parent's ping: true while the part runs. */
  pinged (pool: string, path: string): boolean {
    const part = this.get(pool, path)
    if (part === undefined || part.state !== 'running') return false
    part.lastPingAt = this.#i.clock.now()
    part.pinged = true
    return true
  }

  /** Terminates one part: remote children (reverse order), then local components, then reports. Idempotent. */
  terminate (pool: string, path: string, record: TerminationRecord, o: TerminateOptions): Promise<void> {
    const part = this.get(pool, path)
    if (part === undefined) return Promise.resolve()
    if (part.state !== 'running') return part.done ?? Promise.resolve()
    part.state = 'terminating'
    this.#stopTimers(part)
    part.done = this.#terminate(part, record, o)
    return part.done
  }

  /**
   * Terminates one component of a part held here (not the part's root: that is `terminate` with a report) — first
   * the remote children under it, then the component in the engine. Its parent's sfSyncTerminate decides the rest;
   * should the part's root end with it, the engine reports that as a part that ended on its own (partEnded).
   */
  async terminateComponent (pool: string, partPath: string, path: string, record: TerminationRecord): Promise<void> {
    const part = this.get(pool, partPath)
    if (part === undefined) throw new PathNotFoundError(pool, path)
    if (path === partPath) return await this.terminate(pool, partPath, record, { report: true, cascade: true })
    if (part.state !== 'running') return await (part.done ?? Promise.resolve())
    const engine = this.#i.engine
    if (engine.terminateComponent === undefined) throw new ComponentTerminateUnsupportedError(pool, path)
    const under = part.plan.remoteChildren.filter(c => c.path.startsWith(`${path}:`) && !part.ended.has(c.path))
    for (const c of under) part.ended.add(c.path)
    await this.#terminateChildren(part, under, record)
    await engine.terminateComponent(pool, path, record)
  }

  /** Remote children, in reverse order: one by one under sfSyncTerminate, else all at once. Never throws. */
  async #terminateChildren (part: LivePart, children: PartPlan['remoteChildren'], record: TerminationRecord): Promise<void> {
    const { pool, plan } = part
    const t = this.#i.timings
    const kids = [...children].reverse()
    const one = async (c: { path: string, peer: string }): Promise<void> => {
      try {
        await requestUntilDone(this.#i.transport, this.#i.clock, this.childNow(pool, c).peer, { type: 'terminate-part', pool, path: c.path, kind: record.type === 'normal' ? 'normal' : 'abnormal', reason: record.reason, fromParent: true },
          { timeoutMs: t.requestTimeoutMs, attempts: t.attempts, waitMs: t.longPollMs, deadlineMs: t.commitTimeoutMs })
      } catch (err) {
        this.#i.log('remote child did not confirm termination', { pool, path: c.path, peer: c.peer, error: (err as Error).message })
      }
    }
    if (plan.syncTerminate) for (const c of kids) await one(c)
    else await Promise.all(kids.map(one))
  }

  async #terminate (part: LivePart, record: TerminationRecord, o: TerminateOptions): Promise<void> {
    const { pool, plan } = part
    const t = this.#i.timings
    if (o.cascade) await this.#terminateChildren(part, plan.remoteChildren.filter(c => c.path !== o.skipChild && !part.ended.has(c.path)), record)
    let final: ComponentStatus[] | undefined | void
    try {
      final = await this.#i.engine.terminate(pool, plan.path, record)
    } catch (err) {
      this.#i.log('engine failed to terminate part', { pool, path: plan.path, error: (err as Error).message })
    }
    part.finalStatus = final ?? this.#i.engine.status(pool, plan.path)
    part.termination = record
    part.state = 'terminated'
    if (!o.report) return
    if (plan.parentPeer !== undefined) {
      try {
        await requestWithRetry(this.#i.transport, this.#i.clock, plan.parentPeer, { type: 'termination', pool, path: plan.path, record }, { timeoutMs: t.requestTimeoutMs, attempts: t.attempts })
      } catch (err) {
        this.#i.log('termination record not delivered to the parent', { pool, path: plan.path, peer: plan.parentPeer, error: (err as Error).message })
      }
      return
    }
    // The pool's root ended: the pool is over, everywhere.
    const r = this.#i.registry.get(pool)
    if (r !== undefined && (r.state === 'running' || r.state === 'committing')) {
      await this.#i.registry.update(pool, old => ({ ...(old ?? r), state: 'terminated', reason: `${record.type}: ${record.reason} (at ${record.path || 'root'})` }))
      await releaseClaims(this.#i.claimClient, r.deployId, pool, r.claims)
    }
  }

  #every (part: LivePart, ms: number, fn: () => Promise<void>): void {
    const tick = (): void => {
      if (part.state !== 'running') return
      void fn().finally(() => { if (part.state === 'running') part.timers.push(this.#i.clock.setTimeout(tick, ms)) })
    }
    part.timers.push(this.#i.clock.setTimeout(tick, ms))
  }

  #stopTimers (part: LivePart | undefined): void {
    if (part === undefined) return
    for (const t of part.timers.splice(0)) t.cancel()
  }

  /**
   * Where a remote child runs now: the pool record follows its re-placements (node/deploy/replacement.ts). A
   * scheduled VM's silence is the pool coordinator's business, not a failure of its parent: it will be placed
   * again; while it is being placed (`reserved`), its new host does not run it yet. `failed`: the coordinator
   * could not move it (a pinned VM whose host died), `host`: where the record says it runs.
   */
  childNow (pool: string, c: { path: string, host?: string, peer: string }): { peer: string, host: string, movable: boolean, settling: boolean, failed: boolean } {
    const r = this.#i.registry.get(pool)
    const cur = r?.parts.find(p => p.path === c.path)
    const movable = r !== undefined && replaceable(r, c.path)
    return { peer: cur?.peer ?? c.peer, host: cur?.host ?? c.host ?? c.peer, movable, settling: cur?.placement === 'reserved', failed: cur?.placement === 'failed' }
  }

  async #pingChildren (part: LivePart): Promise<void> {
    const { pool, plan } = part
    await Promise.all(plan.remoteChildren.filter(c => !part.ended.has(c.path)).map(async c => {
      const lost = (now: { host: string, peer: string }): TerminationRecord => ({ type: 'abnormal', reason: `host ${now.host} lost (peer ${now.peer})`, path: c.path })
      const first = this.childNow(pool, c)
      // A pinned VM the pool's coordinator found on a dead host (replacement.ts): failed, no need to count pings.
      if (first.failed && !first.movable) { this.#childEnded(part, c, first.host, lost(first)); return }
      // 'gone': the child's peer answered that the part is not running (its record is on its way, or lost);
      // 'silent': no answer. Both count until sfLivenessFactor in a row.
      let answer: 'alive' | 'gone' | 'silent' = 'silent'
      try {
        const r = await this.#i.transport.request(first.peer, { type: 'ping', pool, path: c.path }, { timeoutMs: Math.min(this.#i.timings.requestTimeoutMs, plan.livenessDelayMs) })
        answer = r.type === 'pong' && r.alive ? 'alive' : 'gone'
      } catch {}
      const now = this.childNow(pool, c)
      if (now.movable && (answer === 'silent' || now.settling)) answer = 'alive'
      const missed = answer === 'alive' ? 0 : (part.missed.get(c.path) ?? 0) + 1
      part.missed.set(c.path, missed)
      // Its record may have arrived while the ping was out.
      if (missed < plan.livenessFactor || part.state !== 'running' || part.ended.has(c.path)) return
      this.#i.log('remote child failed liveness', { pool, path: c.path, peer: now.peer, missed, answer })
      const record: TerminationRecord = !this.#i.isLive(now.peer) || (now.failed && !now.movable)
        ? lost(now)
        : { type: 'abnormal', reason: `liveness: remote child on ${now.host} (${now.peer}) ${answer === 'gone' ? 'not running' : 'not answering'}`, path: c.path }
      this.#childEnded(part, c, now.host, record)
    }))
  }

  async #watchParent (part: LivePart): Promise<void> {
    const { plan } = part
    if (part.orphaned || plan.parentPeer === undefined) return
    // Before the first ping the parent's own part may still be committing (hypervisor time): wait as long as a commit may take.
    const limit = (plan.livenessFactor + 1) * plan.livenessDelayMs
    if (this.#i.clock.now() - part.lastPingAt <= (part.pinged ? limit : Math.max(limit, this.#i.timings.commitTimeoutMs))) return
    const report = { pool: part.pool, path: plan.path, peer: this.#i.self, parentPeer: plan.parentPeer }
    const known = this.#i.registry.get(part.pool)
    const coordinator = coordinatorOf(part.pool, known !== undefined ? participantsOf(known) : part.participants, p => p !== plan.parentPeer && (p === this.#i.self || this.#i.isLive(p)))
    this.#i.log('parent lost: reporting to the pool coordinator', { ...report, coordinator })
    let decision: OrphanDecision | undefined
    try {
      if (coordinator === this.#i.self) decision = await this.#i.orphanPolicy(report)
      else if (coordinator !== undefined) {
        const r = await this.#i.transport.request(coordinator, { type: 'orphan', ...report }, { timeoutMs: this.#i.timings.requestTimeoutMs })
        if (r.type === 'orphan') decision = r.decision
      }
    } catch (err) {
      this.#i.log('orphan report failed; will retry', { ...report, error: (err as Error).message })
    }
    if (decision === undefined || decision === 'wait' || part.state !== 'running') return
    if (decision === 'keep') { part.orphaned = true; return }
    if (typeof decision === 'object') { this.reparent(part.pool, plan.path, decision.reparent); return }
    await this.terminate(part.pool, plan.path, { type: 'abnormal', reason: `parent's host ${plan.parentPeer} lost`, path: plan.path }, { report: false, cascade: true })
  }

  /**
   * The parent's part runs on `parentPeer` now (re-placed after its host died: replace-parts.ts). This part follows
   * it: its termination record goes there, a cascade from there is its parent's, its pings are awaited afresh.
   */
  reparent (pool: string, path: string, parentPeer: string): boolean {
    const part = this.get(pool, path)
    if (part === undefined || part.state !== 'running' || part.plan.parentPeer === undefined || part.plan.parentPeer === parentPeer) return false
    this.#i.log('re-parented: the parent part runs elsewhere now', { pool, path, from: part.plan.parentPeer, to: parentPeer })
    part.plan = { ...part.plan, parentPeer }
    part.orphaned = false
    part.lastPingAt = this.#i.clock.now()
    return true
  }
}
