import type { Clock, Timer } from '../seams/clock.ts'
import type { ComponentStatus, TerminationRecord } from '../engine/types.ts'
import { coordinatorOf } from '../scheduler/coordinator.ts'
import { releaseClaims } from './claims.ts'
import type { ClaimClient } from './claims.ts'
import { requestUntilDone, requestWithRetry } from './retry.ts'
import type { PoolRegistry } from './registry.ts'
import { ComponentTerminateUnsupportedError, PathNotFoundError } from './errors.ts'
import type { DeployTimings, DeployTransport, OrphanDecision, OrphanPolicy, PartEngine, PartPlan } from './types.ts'

// SmartFrog's lifecycle across peers, for the parts this peer holds once committed:
// - a part that ends on its own sends its termination record to its parent's peer; the parent compound then
//   terminates (shared fate): its other remote children first (in reverse order, one by one when sfSyncTerminate,
//   else all at once), then its local components, and reports upwards in turn, up to the pool's root;
// - a parent pings each remote child every sfLivenessDelay; `sfLivenessFactor` failed pings in a row count as
//   the child's abnormal termination;
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
  /** Remote children terminated on purpose with a component of this part (`sdpeer terminate POOL:PATH`): not pinged. */
  ended: Set<string>
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
    const part: LivePart = { pool, plan, participants, epoch, state: 'running', lastPingAt: this.#i.clock.now(), pinged: false, missed: new Map(), timers: [], orphaned: false, ended: new Set() }
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

  /** A remote child's termination record arrived: its parent compound shares its fate. */
  childTerminated (pool: string, childPath: string, record: TerminationRecord): boolean {
    const parent = this.parts(pool).find(p => p.plan.remoteChildren.some(c => c.path === childPath))
    if (parent === undefined || parent.state !== 'running') return false
    void this.terminate(pool, parent.plan.path, record, { report: true, cascade: true, skipChild: childPath })
    return true
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
    try {
      await this.#i.engine.terminate(pool, plan.path, record)
    } catch (err) {
      this.#i.log('engine failed to terminate part', { pool, path: plan.path, error: (err as Error).message })
    }
    part.finalStatus = this.#i.engine.status(pool, plan.path)
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
   * again; while it is being placed (`reserved`), its new host does not run it yet.
   */
  childNow (pool: string, c: { path: string, peer: string }): { peer: string, movable: boolean, settling: boolean } {
    const r = this.#i.registry.get(pool)
    const cur = r?.parts.find(p => p.path === c.path)
    const movable = r?.vms?.some(v => v.path === c.path && !v.pinned) === true
    return { peer: cur?.peer ?? c.peer, movable, settling: cur?.placement === 'reserved' }
  }

  async #pingChildren (part: LivePart): Promise<void> {
    const { pool, plan } = part
    await Promise.all(plan.remoteChildren.filter(c => !part.ended.has(c.path)).map(async c => {
      // 'gone': the child's peer answered that the part is not running (authoritative, fails at once);
      // 'silent': no answer, counted until sfLivenessFactor in a row.
      let answer: 'alive' | 'gone' | 'silent' = 'silent'
      const now = this.childNow(pool, c)
      try {
        const r = await this.#i.transport.request(now.peer, { type: 'ping', pool, path: c.path }, { timeoutMs: Math.min(this.#i.timings.requestTimeoutMs, plan.livenessDelayMs) })
        answer = r.type === 'pong' && r.alive ? 'alive' : 'gone'
      } catch {}
      if (now.movable && (answer === 'silent' || now.settling)) answer = 'alive'
      const missed = answer === 'alive' ? 0 : answer === 'gone' ? plan.livenessFactor : (part.missed.get(c.path) ?? 0) + 1
      part.missed.set(c.path, missed)
      if (missed >= plan.livenessFactor && part.state === 'running') {
        this.#i.log('remote child failed liveness', { pool, path: c.path, peer: c.peer, missed })
        void this.terminate(pool, plan.path, { type: 'abnormal', reason: `liveness: remote child on ${c.host} (${c.peer}) not answering`, path: c.path }, { report: true, cascade: true, skipChild: c.path })
      }
    }))
  }

  async #watchParent (part: LivePart): Promise<void> {
    const { plan } = part
    if (part.orphaned || plan.parentPeer === undefined) return
    // Before the first ping the parent's own part may still be committing (hypervisor time): wait as long as a commit may take.
    const limit = (plan.livenessFactor + 1) * plan.livenessDelayMs
    if (this.#i.clock.now() - part.lastPingAt <= (part.pinged ? limit : Math.max(limit, this.#i.timings.commitTimeoutMs))) return
    const report = { pool: part.pool, path: plan.path, peer: this.#i.self, parentPeer: plan.parentPeer }
    const coordinator = coordinatorOf(part.pool, part.participants, p => p !== plan.parentPeer && (p === this.#i.self || this.#i.isLive(p)))
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
    if (decision === undefined || part.state !== 'running') return
    if (decision === 'keep') { part.orphaned = true; return }
    await this.terminate(part.pool, plan.path, { type: 'abnormal', reason: `parent's host ${plan.parentPeer} lost`, path: plan.path }, { report: false, cascade: true })
  }
}
