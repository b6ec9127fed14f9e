import type { Clock } from '../seams/clock.ts'
import type { SfJson, SfJsonObject } from '../sf/sfjson.ts'
import { ClaimTable } from './claims.ts'
import type { ClaimClient } from './claims.ts'
import { DeployCoordinator } from './coordinator.ts'
import type { DeployRequestOptions, DeployResult, TerminateOutcome } from './coordinator.ts'
import { DeployTransportError, PartLostError, PathNotFoundError, PoolNotFoundError } from './errors.ts'
import { Participant } from './participant.ts'
import type { PartVerifier, SignedRequest } from './auth.ts'
import { AuthError } from '../../protocol/auth/index.ts'
import { HostPolicyError } from './policy.ts'
import type { PartPolicy, SetPolicy } from './policy.ts'
import { gatherPoolStatus } from './pool-status.ts'
import type { MeshPoolStatus } from './pool-status.ts'
import { PoolRegistry } from './registry.ts'
import { ownerOf, RefRouter } from './remote-refs.ts'
import { requestUntilDone, requestWithRetry } from './retry.ts'
import { partOf } from './split.ts'
import { DEFAULT_TIMINGS } from './types.ts'
import type { DeployRequest, DeployResponse, DeployTimings, DeployTransport, HostResolver, OrphanPolicy, PartEngine, PoolRecordView } from './types.ts'

// One peer's deploy service: the coordinator (deploys it takes), the participant (parts it owns), the claim table
// (keys it holds for the mesh) and its replica of the pool registry, behind one request handler. Pool-wide reads
// and writes (`status`, `get`, `set`, `resolve`) are routed from here to the owner of the path.

export interface DeployPeerComponents {
  self: string
  selfHost: string
  clock: Clock
  transport: DeployTransport
  engine: PartEngine
  resolveHost: HostResolver
  /** Live peers of the mesh, this one included (from membership). */
  members: () => string[]
  isLive?: (peer: string) => boolean
  /**
   * The membership declared the peer dead (not merely suspected, not merely unknown). Nothing is sent to a dead
   * peer: requests to it fail at once, `status` lists its parts as lost, `get` refuses naming it, `terminate`
   * skips it. Default: no peer is ever dead (without a membership to say so).
   */
  isDead?: (peer: string) => boolean
  /** What the pool's coordinator does with a part whose parent's host died. Default: terminate it. */
  orphanPolicy?: OrphanPolicy
  timings?: Partial<DeployTimings>
  newDeployId?: (pool: string) => string
  log?: (message: string, context: Record<string, unknown>) => void
  /**
   * Checks each prepare's parts against the original operator's signature (createPartVerifier of auth.ts). Absent
   * (simulations, insecure meshes): no check. Present: an unsigned or forged prepare is refused, nothing reserved.
   */
  verifyPart?: PartVerifier
  /** Host policy at prepare (hostPolicy of policy.ts: --allow-path directories, names and addresses). */
  policy?: PartPolicy
  /** The same for a runtime change routed to this owner (setPolicy of policy.ts). */
  setPolicy?: SetPolicy
}

export type { MeshPoolStatus } from './pool-status.ts'

export const terminateOrphans: OrphanPolicy = async () => 'terminate'

export class DeployPeer {
  readonly self: string
  readonly registry: PoolRegistry
  readonly claims: ClaimTable
  readonly participant: Participant
  readonly coordinator: DeployCoordinator
  /** LAZY references across parts: asks other owners, answers theirs (remote-refs.ts). */
  readonly refs: RefRouter
  readonly #c: DeployPeerComponents
  readonly #t: DeployTimings
  readonly #orphanPolicy: OrphanPolicy
  readonly #isDead: (peer: string) => boolean

  constructor (c: DeployPeerComponents) {
    this.self = c.self
    this.#t = { ...DEFAULT_TIMINGS, ...c.timings }
    const log = c.log ?? (() => {})
    const isLive = c.isLive ?? ((p: string) => c.members().includes(p))
    const isDead = c.isDead ?? (() => false)
    this.#orphanPolicy = c.orphanPolicy ?? terminateOrphans
    // Requests to this very peer (the entry peer owning a part, a claim it holds itself) never touch the network.
    const inner = c.transport
    const transport: DeployTransport = {
      request: async (peer, req, o) => {
        if (peer !== c.self) {
          // A dead peer's silence is known: waiting out a timeout (times the retries) for it would stall every
          // terminate cascade and status that names it.
          if (isDead(peer)) throw new DeployTransportError(peer, 'unreachable', `${req.type}: not sent, the membership declared the peer dead`, { dead: true })
          return await inner.request(peer, req, o)
        }
        try {
          return await this.handle(c.self, structuredClone(req))
        } catch (err) {
          throw new DeployTransportError(peer, 'remote-error', `${(err as Error).name}: ${(err as Error).message}`, { cause: err })
        }
      }
    }
    c = { ...c, transport }
    this.#isDead = isDead
    this.#c = c
    this.registry = new PoolRegistry({ clock: c.clock, transport: c.transport, members: c.members, self: c.self, timeoutMs: this.#t.requestTimeoutMs })
    this.claims = new ClaimTable({ clock: c.clock, usedBy: (k, v, except) => this.registry.usedBy(k, v, except) })
    const claimClient: ClaimClient = { transport: c.transport, clock: c.clock, members: c.members, timeoutMs: this.#t.requestTimeoutMs }
    this.participant = new Participant({ self: c.self, clock: c.clock, transport: c.transport, engine: c.engine, registry: this.registry, claimClient, isLive, orphanPolicy: this.#orphanPolicy, timings: this.#t, log, ...(c.verifyPart !== undefined ? { verifyPart: c.verifyPart } : {}), ...(c.policy !== undefined ? { policy: c.policy } : {}) })
    this.coordinator = new DeployCoordinator({ self: c.self, selfHost: c.selfHost, clock: c.clock, transport: c.transport, resolveHost: c.resolveHost, registry: this.registry, claimClient, timings: this.#t, log, isDead, ...(c.newDeployId !== undefined ? { newDeployId: c.newDeployId } : {}) })
    this.refs = new RefRouter({
      transport: c.transport,
      requestTimeoutMs: this.#t.requestTimeoutMs,
      engine: c.engine,
      ownerOf: (pool, path) => ownerOf(this.registry.get(pool), this.participant.lifecycle.parts(pool).map(x => x.plan), { peer: c.self, host: c.selfHost }, path)
    })
    c.engine.connect?.(this.refs)
  }

  start (): void { this.participant.start() }
  stop (): void { this.participant.stop() }

  /** The handler the transport calls for every request addressed to this peer. */
  readonly handle = async (from: string, req: DeployRequest): Promise<DeployResponse> => {
    const p = this.participant
    if (req.type === 'prepare' || req.type === 'set' || (req.type === 'terminate-part' && req.auth !== undefined)) await this.#c.verifyPart?.refresh?.()
    switch (req.type) {
      case 'prepare': return await p.prepare(req.deployId, req.pool, req.parts, req.participants, req.leaseMs, { ...(req.auth !== undefined ? { auth: req.auth } : {}), ...(req.replace !== undefined ? { replace: req.replace } : {}), from, coordinator: req.coordinator })
      case 'commit': return await this.#within(p.commit(req.deployId), req.waitMs)
      case 'abort': return await this.#within(p.abort(req.deployId, req.pool, req.reason, from), req.waitMs)
      case 'claim': return { type: 'claim', refused: this.claims.claimMany(req.deployId, req.pool, req.claims, req.leaseMs) }
      case 'claim-confirm': this.claims.confirm(req.deployId, req.pool, req.claims); return { type: 'ok' }
      case 'claim-release': this.claims.release(req.deployId, req.pool, req.claims); return { type: 'ok' }
      case 'terminate-part': {
        this.#guardTerminate(from, req)
        const at = req.component ?? req.path
        const record = { type: req.kind, reason: req.reason, path: at }
        const done = req.component !== undefined
          ? p.lifecycle.terminateComponent(req.pool, req.path, req.component, record)
          : p.lifecycle.terminate(req.pool, req.path, record, { report: !req.fromParent, cascade: req.cascade !== false })
        return await this.#within(done.then((): DeployResponse => ({ type: 'ok' })), req.waitMs)
      }
      case 'status': return { type: 'status', ...p.status(req.pool) }
      case 'get': return { type: 'value', value: await p.get(req.pool, req.path, req.attr) }
      case 'resolve': return { type: 'value', value: req.ref !== undefined ? await this.refs.answer(req) : await p.get(req.pool, req.path, req.attr) }
      case 'set': {
        this.#c.verifyPart?.set(req)
        const problem = await this.#c.setPolicy?.(req.pool, req.path, req.attr, req.value)
        if (problem !== undefined) throw new HostPolicyError(req.pool, [problem])
        p.set(req.pool, req.path, req.attr, req.value)
        return { type: 'ok' }
      }
      case 'termination':
        this.#guardTermination(from, req.pool, req.path)
        p.lifecycle.childTerminated(req.pool, req.path, req.record)
        return { type: 'ok' }
      case 'ping': return { type: 'pong', alive: p.pinged(req.pool, req.path, from) }
      case 'orphan': return { type: 'orphan', decision: await this.#orphanPolicy({ pool: req.pool, path: req.path, peer: req.peer, parentPeer: req.parentPeer }) }
      case 'registry-put': this.registry.merge(req.record); return { type: 'ok' }
      case 'registry-list': return { type: 'registry', records: this.registry.list() }
    }
  }

  /**
   * With signatures enforced, a part ends only on the operator's signed terminate, or on its parent's cascade (from
   * the parent's peer, which the transport authenticates), or from this peer itself. Throws AuthError.
   */
  #guardTerminate (from: string, req: Extract<DeployRequest, { type: 'terminate-part' }>): void {
    const v = this.#c.verifyPart
    if (v === undefined) return
    if (req.auth !== undefined) { v.terminate(req); return }
    const part = this.participant.lifecycle.get(req.pool, req.path)
    if (from === this.self || part === undefined || from === part.plan.parentPeer) return
    throw new AuthError('unsigned', `pool ${req.pool}: an unsigned terminate of part ${req.path || '(root)'} from ${from}, which is not its parent's peer`)
  }

  /** A child part's termination record is believed only from the peer that holds that child. */
  #guardTermination (from: string, pool: string, path: string): void {
    if (this.#c.verifyPart === undefined || from === this.self) return
    const child = this.participant.lifecycle.parts(pool).flatMap(p => p.plan.remoteChildren).find(c => c.path === path)
    const holder = child !== undefined ? { peer: this.participant.lifecycle.childNow(pool, child).peer } : undefined
    if (holder !== undefined && holder.peer !== from) throw new AuthError('role-not-allowed', `pool ${pool}: a termination record for ${path} from ${from}, not from its owner ${holder.peer}`)
  }

  /** Long-poll: the work's answer, or `pending` once `waitMs` has passed (the work goes on). */
  async #within (work: Promise<DeployResponse>, waitMs: number | undefined): Promise<DeployResponse> {
    if (waitMs === undefined) return await work
    const stop = new AbortController()
    const pend = (): DeployResponse => ({ type: 'pending' })
    const pending = this.#c.clock.sleep(waitMs, { signal: stop.signal }).then(pend, pend)
    try {
      return await Promise.race([work, pending])
    } finally {
      stop.abort()
    }
  }

  /** A request to a peer through this service's transport (this peer itself without the network), with retries. */
  request (peer: string, req: DeployRequest, options: { attempts?: number } = {}): Promise<DeployResponse> {
    return requestWithRetry(this.#c.transport, this.#c.clock, peer, req, { timeoutMs: this.#t.requestTimeoutMs, attempts: options.attempts ?? this.#t.attempts })
  }

  /** Like `request`, long-polling a commit, abort or part termination until done (bounded by the commit timeout). */
  requestUntilDone (peer: string, req: Parameters<typeof requestUntilDone>[3]): Promise<DeployResponse> {
    const t = this.#t
    return requestUntilDone(this.#c.transport, this.#c.clock, peer, req, { timeoutMs: t.requestTimeoutMs, attempts: t.attempts, waitMs: t.longPollMs, deadlineMs: t.commitTimeoutMs })
  }

  deploy (pool: string, config: SfJsonObject, options?: DeployRequestOptions): Promise<DeployResult> {
    return this.coordinator.deploy(pool, config, options)
  }

  /** `auth`: the operator's signed terminate (envelope + apiRequestBody), sent to every owner that verifies. */
  terminate (pool: string, kind: 'normal' | 'abnormal' = 'normal', reason?: string, options: { auth?: SignedRequest } = {}): Promise<TerminateOutcome> {
    return this.coordinator.terminate(pool, kind, reason, options.auth)
  }

  /**
   * `sdpeer terminate POOL:PATH`: asks the owner of the part holding `path` to terminate that component (a part's
   * root sends its termination record to its parent's peer, as a part that ends by itself does). `auth`: the
   * operator's signed terminate naming that path, which the owner verifies. Path "" is the whole pool: the pool's
   * terminate (whose signed body names the whole pool too).
   */
  async terminateComponent (pool: string, path: string, kind: 'normal' | 'abnormal', reason: string, options: { auth?: SignedRequest } = {}): Promise<void> {
    if (path === '') { await this.terminate(pool, kind, reason, options); return }
    const part = this.#part(pool, path)
    await this.requestUntilDone(part.peer, { type: 'terminate-part', pool, path: part.path, component: path, kind, reason, fromParent: false, ...(options.auth !== undefined ? { auth: options.auth } : {}) })
  }

  /** `sdpeer ls`: every pool this peer's registry replica knows. */
  ls (): PoolRecordView[] { return this.registry.list() }

  #record (pool: string): PoolRecordView {
    const r = this.registry.get(pool)
    if (r === undefined) throw new PoolNotFoundError(pool)
    return r
  }

  /** Every owner's components, within one request timeout; the parts of dead owners listed as lost. */
  async status (pool: string): Promise<MeshPoolStatus> {
    const c = this.#c
    return await gatherPoolStatus({ clock: c.clock, transport: c.transport, record: p => this.registry.get(p), isDead: this.#isDead, timeoutMs: this.#t.requestTimeoutMs }, pool)
  }

  /** The part holding `path`, on a peer that can still answer for it: a part lost with its host is refused at once. */
  #part (pool: string, path: string): PoolRecordView['parts'][number] {
    const part = partOf(this.#record(pool).parts, path)
    if (part === undefined) throw new PathNotFoundError(pool, path)
    if (part.placement === 'failed') throw new PartLostError(pool, path, part, `lost: ${part.reason ?? 'the pool\'s coordinator could not place it again'}`)
    if (this.#isDead(part.peer)) throw new PartLostError(pool, path, part, 'which the mesh declared dead')
    return part
  }

  #owner (pool: string, path: string): string { return this.#part(pool, path).peer }

  async get (pool: string, path: string, attr?: string): Promise<SfJson> {
    const res = await this.#request(this.#owner(pool, path), { type: 'get', pool, path, ...(attr !== undefined ? { attr } : {}) })
    if (res.type !== 'value') throw new Error(`unexpected answer ${res.type}`)
    return res.value
  }

  /** `auth`: the operator's signed set (envelope + apiRequestBody), checked by the owner when it verifies. */
  async set (pool: string, path: string, attr: string, value: SfJson, options: { auth?: SignedRequest } = {}): Promise<void> {
    await this.#request(this.#owner(pool, path), { type: 'set', pool, path, attr, value, ...(options.auth !== undefined ? { auth: options.auth } : {}) })
  }

  /** A LAZY reference whose target (absolute path + attribute) lives on another peer. */
  async resolve (pool: string, path: string, attr: string): Promise<SfJson> {
    const res = await this.#request(this.#owner(pool, path), { type: 'resolve', pool, path, attr })
    if (res.type !== 'value') throw new Error(`unexpected answer ${res.type}`)
    return res.value
  }

  #request (peer: string, req: DeployRequest): Promise<DeployResponse> {
    return peer === this.self
      ? this.handle(this.self, req)
      : requestWithRetry(this.#c.transport, this.#c.clock, peer, req, { timeoutMs: this.#t.requestTimeoutMs, attempts: this.#t.attempts })
  }
}
