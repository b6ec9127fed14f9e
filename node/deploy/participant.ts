import type { Clock, Timer } from '../seams/clock.ts'
import type { ComponentStatus, TerminationRecord } from '../engine/types.ts'
import type { SfJson } from '../sf/sfjson.ts'
import type { ClaimClient } from './claims.ts'
import { PathNotFoundError } from './errors.ts'
import { PartLifecycle } from './lifecycle.ts'
import type { LivePart } from './lifecycle.ts'
import { partOf } from './split.ts'
import type { DeployResponse, DeployTimings, DeployTransport, OrphanPolicy, PartEngine, PartPlan } from './types.ts'
import type { PoolRegistry } from './registry.ts'
import type { PartVerifier, PrepareAuth } from './auth.ts'
import { AuthError } from '../../protocol/auth/index.ts'
import type { VerifiedRequest } from '../../protocol/auth/index.ts'
import type { PartPolicy } from './policy.ts'
import { currentParentPeer, replacementProblem } from './replacement-check.ts'

// The owner's side of the two-phase deploy. prepare validates and reserves through the engine (the pool's domain
// names and addresses are claimed by the coordinator in the same phase: see coordinator.ts); commit deploys and
// starts; abort undoes whatever stage was reached. Every
// message is idempotent per deploy id: a retried prepare or commit gets the answer of the first one. A prepared
// deploy that hears neither commit nor abort within the lease releases its reservation by itself, and
// an aborted deploy id is remembered (tombstone) so a prepare that arrives late is refused.

type Stage = 'preparing' | 'prepared' | 'refused' | 'committing' | 'committed' | 'aborted'

interface DeployEntry {
  deployId: string
  pool: string
  parts: PartPlan[]
  participants: string[]
  /** The peer that sent the prepare: the only one whose abort a verifying owner obeys. */
  coordinator: string
  stage: Stage
  /** Placement generation of a re-placed part (absent: 1, a deploy). */
  epoch?: number
  /** The operator verifyPart accepted: its request id is burnt on this peer at commit. */
  verified?: VerifiedRequest
  lease?: Timer
  prepared?: Promise<DeployResponse>
  committed?: Promise<DeployResponse>
  aborting?: Promise<DeployResponse>
}

export interface ParticipantInit {
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
  /** The operator-signature check of a prepare's parts (auth.ts); absent: no check. */
  verifyPart?: PartVerifier
  /** Host policy (policy.ts): paths and names the parts may use here; absent: no check. */
  policy?: PartPolicy
}

export class Participant {
  readonly #i: ParticipantInit
  readonly #deploys = new Map<string, DeployEntry>()
  readonly lifecycle: PartLifecycle
  #unsubscribe: (() => void) | undefined

  constructor (init: ParticipantInit) {
    this.#i = init
    this.lifecycle = new PartLifecycle({
      self: init.self,
      clock: init.clock,
      transport: init.transport,
      engine: init.engine,
      registry: init.registry,
      claimClient: init.claimClient,
      isLive: init.isLive,
      orphanPolicy: init.orphanPolicy,
      timings: init.timings,
      log: init.log
    })
  }

  start (): void {
    this.#unsubscribe = this.#i.engine.onPartTerminated((pool, path, record) => this.lifecycle.partEnded(pool, path, record))
  }

  stop (): void {
    this.#unsubscribe?.()
    this.lifecycle.stop()
    for (const d of this.#deploys.values()) d.lease?.cancel()
  }

  /**
   * A parent's ping: true while the part runs here, and while its commit is on its way (prepared or committing).
   * Owners commit in parallel, so a parent may be running and pinging long before this owner hears its commit;
   * "not running" then would count as the child's death, and the pool would be torn down as it is being made.
   */
  pinged (pool: string, path: string, from?: string): boolean {
    if (from !== undefined) this.#followParent(pool, path, from)
    if (this.lifecycle.pinged(pool, path)) return true
    for (const d of this.#deploys.values()) {
      if (d.pool === pool && (d.stage === 'prepared' || d.stage === 'committing') && d.parts.some(p => p.path === path)) return true
    }
    return false
  }

  /**
   * A ping from a peer that is not this part's parent's: when the pool record puts the parent's part there now (it
   * was re-placed after its host died), the part follows it before the coordinator's answer to its orphan report.
   */
  #followParent (pool: string, path: string, from: string): void {
    const part = this.lifecycle.get(pool, path)
    if (part === undefined || part.plan.parentPeer === undefined || part.plan.parentPeer === from) return
    if (currentParentPeer(this.#i.registry.get(pool), part.plan.parentPath) === from) this.lifecycle.reparent(pool, path, from)
  }

  /**
   * A part the engine recovered at a restart, which the pool record still places here (fence-recovered.ts): back in
   * the mesh lifecycle (pinged, watching its parent, terminable, in `status`) and in the host's admission.
   */
  recovered (pool: string, plan: PartPlan, participants: string[], epoch: number): LivePart {
    const had = this.lifecycle.get(pool, plan.path)
    if (had?.state === 'running') return had
    const verdict = this.#i.engine.recovered?.(pool, plan, epoch)
    if (verdict !== undefined && !verdict.ok) this.#i.log('recovered part does not fit this host\'s admission; it runs on', { pool, path: plan.path, reason: verdict.reason })
    return this.lifecycle.adopt(pool, plan, participants, epoch)
  }

  /** Stage of a deploy on this owner (tests and `status` of a deploy in flight). */
  stage (deployId: string): Stage | undefined { return this.#deploys.get(deployId)?.stage }

  prepare (deployId: string, pool: string, parts: PartPlan[], participants: string[], leaseMs: number, o: { auth?: PrepareAuth, from?: string, coordinator?: string, replace?: { epoch: number } } = {}): Promise<DeployResponse> {
    const old = this.#deploys.get(deployId)
    if (old !== undefined) return old.prepared ?? Promise.resolve({ type: 'prepared', ok: false, reason: `deploy ${deployId} was ${old.stage}` })
    let verified: VerifiedRequest | undefined
    if (o.replace !== undefined) {
      // A re-placement: checked against the pool record and the signed description, never burnt (replacement-check.ts).
      const problem = replacementProblem(this.#i.registry, this.#i.self, this.#i.isLive, pool, parts, o.replace.epoch) ?? this.#replacementAuth(pool, parts, o.auth)
      if (problem !== undefined) {
        this.#i.log('re-placement refused', { pool, deployId, from: o.from, reason: problem })
        return Promise.resolve({ type: 'prepared', ok: false, reason: problem })
      }
    } else if (this.#i.verifyPart !== undefined) {
      // Checked before the deploy id is recorded: a forged prepare cannot occupy the id of the real one.
      try {
        verified = this.#i.verifyPart.verify({ pool, parts, ...(o.auth !== undefined ? { auth: o.auth } : {}) }, o.from ?? '')
        if (verified !== undefined) this.#i.log('prepare: operator verified', { pool, deployId, operator: verified.operator, role: verified.role, requestId: verified.id })
      } catch (err) {
        const reason = `${(err as Error).name}: ${(err as Error).message}`
        this.#i.log('prepare refused: operator signature', { pool, deployId, from: o.from, reason })
        return Promise.resolve({ type: 'prepared', ok: false, reason })
      }
    }
    const d: DeployEntry = { deployId, pool, parts, participants, coordinator: o.from ?? o.coordinator ?? '', stage: 'preparing', ...(verified !== undefined ? { verified } : {}), ...(o.replace !== undefined ? { epoch: o.replace.epoch } : {}) }
    this.#deploys.set(deployId, d)
    d.prepared = this.#prepare(d, leaseMs)
    return d.prepared
  }

  #replacementAuth (pool: string, parts: PartPlan[], auth: PrepareAuth | undefined): string | undefined {
    const v = this.#i.verifyPart
    if (v === undefined) return undefined
    if (v.replacement === undefined) return 'this peer does not verify re-placements'
    try {
      v.replacement({ pool, parts, ...(auth !== undefined ? { auth } : {}) }, '')
      return undefined
    } catch (err) {
      return `${(err as Error).name}: ${(err as Error).message}`
    }
  }

  async #prepare (d: DeployEntry, leaseMs: number): Promise<DeployResponse> {
    const refuse = (reason: string): DeployResponse => {
      d.stage = 'refused'
      this.#forgetLater(d)
      this.#i.log('prepare refused', { pool: d.pool, deployId: d.deployId, reason })
      return { type: 'prepared', ok: false, reason }
    }
    const foreign = d.parts.find(p => p.peer !== this.#i.self)
    if (foreign !== undefined) return refuse(`part ${foreign.path || '(root)'} is addressed to ${foreign.peer}, not ${this.#i.self}`)
    const taken = d.parts.find(p => this.lifecycle.get(d.pool, p.path)?.state === 'running')
    if (taken !== undefined) return refuse(`part ${taken.path || '(root)'} of pool ${d.pool} is already deployed here`)
    if (this.#i.policy !== undefined) {
      let problems: string[]
      try {
        problems = await this.#i.policy(d.pool, d.parts)
      } catch (err) {
        return refuse(`host policy: ${(err as Error).message}`)
      }
      if (problems.length > 0) return refuse(`host policy refuses ${problems.length === 1 ? 'an attribute' : `${problems.length} attributes`}: ${problems.join('; ')}`)
      if ((d.stage as Stage) !== 'preparing') return { type: 'prepared', ok: false, reason: `deploy ${d.deployId} was ${d.stage}` }
    }
    let verdict
    try {
      verdict = await this.#i.engine.prepare(d.deployId, d.pool, d.parts, d.epoch !== undefined ? { epoch: d.epoch } : {})
    } catch (err) {
      return refuse((err as Error).message)
    }
    if (!verdict.ok) return refuse(verdict.reason ?? 'refused by the engine')
    // An abort may have arrived while the engine was checking: it wins.
    if (d.stage !== 'preparing') {
      this.#i.engine.release(d.deployId)
      return { type: 'prepared', ok: false, reason: `deploy ${d.deployId} was ${d.stage}` }
    }
    d.stage = 'prepared'
    d.lease = this.#i.clock.setTimeout(() => { void this.#expire(d) }, leaseMs)
    return { type: 'prepared', ok: true }
  }

  async #expire (d: DeployEntry): Promise<void> {
    if (d.stage !== 'prepared') return
    this.#i.log('prepare lease expired: releasing', { pool: d.pool, deployId: d.deployId })
    await this.#undoPrepare(d)
  }

  async #undoPrepare (d: DeployEntry): Promise<void> {
    d.stage = 'aborted'
    d.lease?.cancel()
    this.#i.engine.release(d.deployId)
    this.#forgetLater(d)
  }

  commit (deployId: string): Promise<DeployResponse> {
    const d = this.#deploys.get(deployId)
    if (d === undefined) return Promise.resolve({ type: 'committed', ok: false, reason: `unknown deploy ${deployId} (never prepared here, or forgotten)` })
    if (d.committed !== undefined) return d.committed
    if (d.stage !== 'prepared') return Promise.resolve({ type: 'committed', ok: false, reason: `deploy ${deployId} is ${d.stage}` })
    // A re-placement whose pool is being terminated meanwhile must not start a copy that nobody will end.
    const r = d.epoch !== undefined ? this.#i.registry.get(d.pool) : undefined
    if (r !== undefined && r.state !== 'running') {
      void this.#undoPrepare(d)
      return Promise.resolve({ type: 'committed', ok: false, reason: `pool ${d.pool} is ${r.state}: re-placement ${deployId} dropped` })
    }
    if (d.verified !== undefined && this.#i.verifyPart !== undefined) {
      // Two deploys of one signed request prepared here at once (a replay racing the original): one commits.
      try {
        this.#i.verifyPart.admit(d.verified, d.parts.map(p => p.path))
      } catch (err) {
        void this.#undoPrepare(d)
        return Promise.resolve({ type: 'committed', ok: false, reason: `${(err as Error).name}: ${(err as Error).message}` })
      }
    }
    d.stage = 'committing'
    d.lease?.cancel()
    d.committed = this.#commit(d)
    return d.committed
  }

  async #commit (d: DeployEntry): Promise<DeployResponse> {
    let components: ComponentStatus[]
    try {
      components = await this.#i.engine.deploy(d.deployId, d.pool, d.parts)
    } catch (err) {
      // The engine rolled its own deploy back (PoolEngine's contract); give back the rest.
      const reason = `${(err as Error).name}: ${(err as Error).message}`
      this.#i.log('commit failed', { pool: d.pool, deployId: d.deployId, reason })
      await this.#undoPrepare(d)
      return { type: 'committed', ok: false, reason }
    }
    // Adopted before looking at an abort that came meanwhile: the abort then finds the parts and terminates them.
    for (const p of d.parts) this.lifecycle.adopt(d.pool, p, d.participants, d.epoch ?? 1)
    if ((d.stage as Stage) === 'aborted') return { type: 'committed', ok: false, reason: `deploy ${d.deployId} was aborted during commit` }
    d.stage = 'committed'
    return { type: 'committed', ok: true, components }
  }

  /** Idempotent: a repeated abort waits for the same undo. */
  abort (deployId: string, pool: string, reason: string, from?: string): Promise<DeployResponse> {
    const d = this.#deploys.get(deployId)
    // With signatures enforced, only the deploy's own coordinator (or this peer) may undo it: an abort of a
    // committed deploy terminates its parts, which no other member may ask for unsigned.
    if (this.#i.verifyPart !== undefined && d !== undefined && from !== undefined && from !== this.#i.self && from !== d.coordinator) {
      this.#i.log('abort refused: not from the coordinator', { pool, deployId, from, coordinator: d.coordinator })
      return Promise.reject(new AuthError('role-not-allowed', `deploy ${deployId}: only its coordinator ${d.coordinator} may abort it, not ${from}`))
    }
    if (d?.aborting !== undefined) return d.aborting
    const p = this.#abort(deployId, pool, reason)
    if (d !== undefined) d.aborting = p
    return p
  }

  async #abort (deployId: string, pool: string, reason: string): Promise<DeployResponse> {
    const d = this.#deploys.get(deployId)
    if (d === undefined) {
      // Remember it: a prepare that was overtaken by its abort must not reserve anything.
      const t: DeployEntry = { deployId, pool, parts: [], participants: [], coordinator: '', stage: 'aborted' }
      this.#deploys.set(deployId, t)
      this.#forgetLater(t)
      return { type: 'ok' }
    }
    this.#i.log('abort', { pool, deployId, reason, stage: d.stage })
    switch (d.stage) {
      case 'preparing': d.stage = 'aborted'; await d.prepared; break
      case 'prepared': await this.#undoPrepare(d); break
      case 'committing':
        d.stage = 'aborted'
        await d.committed
        await this.#undoCommit(d, reason)
        break
      case 'committed': d.stage = 'aborted'; await this.#undoCommit(d, reason); break
      default: break
    }
    return { type: 'ok' }
  }

  async #undoCommit (d: DeployEntry, reason: string): Promise<void> {
    // Children first: parts are in pre-order, so reverse order terminates every child part before its parent.
    for (const p of [...d.parts].reverse()) {
      await this.lifecycle.terminate(d.pool, p.path, { type: 'abnormal', reason: `deploy aborted: ${reason}`, path: p.path }, { report: false, cascade: false })
    }
    this.lifecycle.forget(d.pool, d.parts.map(p => p.path))
    this.#i.engine.release(d.deployId)
    this.#forgetLater(d)
  }

  #forgetLater (d: DeployEntry): void {
    this.#i.clock.setTimeout(() => { if (this.#deploys.get(d.deployId) === d && d.stage !== 'committed') this.#deploys.delete(d.deployId) }, this.#i.timings.tombstoneMs)
  }

  // ---- reads and writes routed to this owner -------------------------------------------------------------------

  status (pool: string): { components: ComponentStatus[], termination?: TerminationRecord } {
    return this.lifecycle.status(pool)
  }

  #partFor (pool: string, path: string): LivePart {
    const part = partOf(this.lifecycle.parts(pool).filter(p => p.state === 'running').map(p => ({ path: p.plan.path, p })), path)
    if (part === undefined) throw new PathNotFoundError(pool, path)
    return part.p
  }

  /** Follows LAZY references to other peers when the engine can (PartEngine.read). */
  get (pool: string, path: string, attr?: string): SfJson | Promise<SfJson> {
    this.#partFor(pool, path)
    const e = this.#i.engine
    return e.read !== undefined ? e.read(pool, path, attr) : e.get(pool, path, attr)
  }

  set (pool: string, path: string, attr: string, value: SfJson): void {
    this.#partFor(pool, path)
    this.#i.engine.set(pool, path, attr, value)
  }
}
