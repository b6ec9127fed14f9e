import type { Clock } from '../seams/clock.ts'
import type { ComponentStatus } from '../engine/types.ts'
import type { SfJsonObject } from '../sf/sfjson.ts'
import { proveParts } from './auth.ts'
import type { DeployAuth, PrepareAuth, SignedRequest } from './auth.ts'
import { claimAll, confirmClaims, releaseClaims } from './claims.ts'
import type { ClaimClient } from './claims.ts'
import { DeployFailedError, DeployTransportError, PoolBusyError, PoolExistsError, PoolNotFoundError, TerminateRefusedError } from './errors.ts'
import type { PeerFailure } from './errors.ts'
import { isActive } from './registry.ts'
import type { PoolRegistry } from './registry.ts'
import { failureKind, requestUntilDone, requestWhile, requestWithRetry } from './retry.ts'
import { claimsOf, splitPool } from './split.ts'
import { vmParts } from './vm-parts.ts'
import { partPlans } from './part-plans.ts'
import type { DeployTimings, DeployTransport, HostResolver, PartPlan, PoolRecordView, SplitPlan } from './types.ts'

// The entry peer's side: split, then two phases. Prepare goes to every owner at once; if all say yes, commit goes
// to every owner at once; any refusal, failure or silence (after retries) aborts every owner that was asked, and
// the deploy fails having left nothing anywhere. The coordinator keeps no state a crash would leave dangling:
// owners hold their reservations on a lease, so an entry peer that dies between the phases costs only the lease.
//
// The pool's domain names and addresses are claimed in the prepare phase too, by the coordinator, in parallel
// with the owners' prepares: one batched request per claim holder for the whole pool (about as many requests as
// peers), rather than one per owner per holder (20 owners of 5 VMs each made ~300). Claims are confirmed once
// every owner has prepared, before commit, so a commit slower than the lease cannot let them lapse; a pending
// claim whose coordinator died expires with the lease, like the owners' reservations.

export interface CoordinatorInit {
  self: string
  /** The host name this peer answers to (the root's host unless `--at`). */
  selfHost: string
  clock: Clock
  transport: DeployTransport
  resolveHost: HostResolver
  registry: PoolRegistry
  claimClient: ClaimClient
  timings: DeployTimings
  /** Deploy ids: unique per peer; the default counts from the clock. */
  newDeployId?: (pool: string) => string
  log: (message: string, context: Record<string, unknown>) => void
  /** The membership declared the peer dead (see DeployPeerComponents.isDead): terminate does not wait on it. */
  isDead: (peer: string) => boolean
}

/** What `terminate` did besides ending the pool. */
export interface TerminateOutcome {
  /** Live owners that did not answer: their parts may still run (a host that comes back fences them). */
  unreachable: string[]
  /** Parts whose host the membership declared dead (or that the pool's coordinator recorded lost): not asked. */
  lost: Array<{ path: string, host: string, peer: string }>
}

export interface DeployResult {
  pool: string
  deployId: string
  plan: SplitPlan
  components: ComponentStatus[]
  /** Virtual or real ms from the call to every owner having reported running. */
  elapsedMs: number
}

export interface DeployRequestOptions {
  /** `--at HOST`: where the root goes. */
  at?: string
  /**
   * The operator's signed request as the entry peer received it (envelope + signed body; auth.ts). Each owner's
   * prepare then carries the envelope and the proofs of its parts, and owners with a `verifyPart` check them.
   */
  auth?: DeployAuth
}

/** The parts of a plan grouped by owner, in the order owners first appear. */
export function byOwner (parts: readonly PartPlan[]): Map<string, PartPlan[]> {
  const m = new Map<string, PartPlan[]>()
  for (const p of parts) m.set(p.peer, [...(m.get(p.peer) ?? []), p])
  return m
}

export class DeployCoordinator {
  readonly #i: CoordinatorInit
  #counter = 0

  constructor (init: CoordinatorInit) {
    this.#i = init
  }

  async deploy (pool: string, config: SfJsonObject, options: DeployRequestOptions = {}): Promise<DeployResult> {
    const started = this.#i.clock.now()
    const existing = this.#i.registry.get(pool)
    if (existing !== undefined && isActive(existing)) throw new PoolExistsError(pool, existing.state)
    // Throws UnknownHostError before any peer is contacted.
    const plan = splitPool(config, { pool, entryPeer: this.#i.self, entryHost: this.#i.selfHost, resolveHost: this.#i.resolveHost, ...(options.at !== undefined ? { at: options.at } : {}) })
    const deployId = this.#i.newDeployId?.(pool) ?? `${pool}.${this.#i.self}.${Math.floor(this.#i.clock.now())}.${++this.#counter}`
    const owners = byOwner(plan.parts)
    // Proofs before any peer is contacted: a signed body that does not hold the pool fails here, leaving nothing.
    const memo = new WeakMap<object, string>()
    const proofs = new Map<string, PrepareAuth>()
    if (options.auth !== undefined) for (const [peer, parts] of owners) proofs.set(peer, proveParts(pool, options.auth, parts, memo))
    const participants = [...new Set([this.#i.self, ...owners.keys()])]
    // What the pool's coordinator needs to re-place a scheduled VM later, from any participant (replacement.ts).
    const vms = vmParts(pool, config, plan.parts, options.auth)
    const structure = partPlans(pool, plan.parts, vms, options.auth)
    const t = this.#i.timings
    const record = (state: PoolRecordView['state'], reason?: string): Omit<PoolRecordView, 'version'> => ({
      pool,
      entry: this.#i.self,
      deployId,
      parts: plan.parts.map(p => ({ path: p.path, host: p.host, peer: p.peer, ...(p.parentPath !== undefined ? { parentPath: p.parentPath } : {}) })),
      claims: { ...claimsOf(plan.parts), pool },
      participants,
      ...(vms.length > 0 ? { vms } : {}),
      // Only a running pool's parts are re-placed or taken back: the plans ride on its last write, not all three.
      ...(structure.length > 0 && state === 'running' ? { partPlans: structure } : {}),
      state,
      ...(reason !== undefined ? { reason } : {})
    })
    void this.#i.registry.update(pool, () => record('preparing'))
    this.#i.log('deploy: prepare', { pool, deployId, owners: [...owners.keys()] })

    const failures: PeerFailure[] = []
    const hostOf = (peer: string): string => owners.get(peer)?.[0]?.host ?? peer
    // Lease: long enough for the slowest prepare to come back and the commit to reach every owner. A prepare may
    // take all its sends, the claims' confirmation two more, the commit one (requestTimeoutMs each): with long
    // request timeouts (a loaded mesh) a fixed lease ran out on the owners that answered first, before the commit.
    const leaseMs = Math.max(t.prepareLeaseMs, t.requestTimeoutMs * (t.attempts + 3))
    const claims = { ...claimsOf(plan.parts), pool }
    let claimed = false
    const claiming = (async () => {
      try {
        await claimAll(this.#i.claimClient, deployId, pool, claims, leaseMs)
        claimed = true
      } catch (err) {
        failures.push({ peer: this.#i.self, host: 'claim holders', phase: 'prepare', kind: 'refused', reason: `${(err as Error).name}: ${(err as Error).message}` })
      }
    })()
    await Promise.all([claiming, ...[...owners].map(async ([peer, parts]) => {
      try {
        const r = await requestWithRetry(this.#i.transport, this.#i.clock, peer, { type: 'prepare', deployId, pool, coordinator: this.#i.self, parts, participants, leaseMs, ...(proofs.has(peer) ? { auth: proofs.get(peer)! } : {}) }, { timeoutMs: t.requestTimeoutMs, attempts: t.attempts })
        if (r.type !== 'prepared') failures.push({ peer, host: hostOf(peer), phase: 'prepare', kind: 'error', reason: `unexpected answer ${r.type}` })
        else if (!r.ok) failures.push({ peer, host: hostOf(peer), phase: 'prepare', kind: 'refused', reason: r.reason })
      } catch (err) {
        failures.push({ peer, host: hostOf(peer), phase: 'prepare', kind: failureKind(err), reason: (err as Error).message })
      }
    })])
    if (failures.length > 0) {
      // claimAll released its partial grants itself when it failed; a full grant is given back here.
      if (claimed) await releaseClaims(this.#i.claimClient, deployId, pool, claims)
      return await this.#fail(pool, deployId, owners, failures, record)
    }
    await confirmClaims(this.#i.claimClient, deployId, pool, claims)

    this.#i.log('deploy: commit', { pool, deployId })
    void this.#i.registry.update(pool, () => record('committing'))
    const components: ComponentStatus[] = []
    await Promise.all([...owners].map(async ([peer]) => {
      try {
        const r = await requestUntilDone(this.#i.transport, this.#i.clock, peer, { type: 'commit', deployId, pool }, this.#longPoll())
        if (r.type !== 'committed') failures.push({ peer, host: hostOf(peer), phase: 'commit', kind: 'error', reason: `unexpected answer ${r.type}` })
        else if (!r.ok) failures.push({ peer, host: hostOf(peer), phase: 'commit', kind: 'refused', reason: r.reason })
        else components.push(...r.components)
      } catch (err) {
        failures.push({ peer, host: hostOf(peer), phase: 'commit', kind: failureKind(err), reason: (err as Error).message })
      }
    }))
    if (failures.length > 0) {
      await releaseClaims(this.#i.claimClient, deployId, pool, claims)
      return await this.#fail(pool, deployId, owners, failures, record)
    }
    const elapsedMs = this.#i.clock.now() - started
    await this.#i.registry.update(pool, () => record('running'))
    this.#i.log('deploy: running', { pool, deployId, elapsedMs })
    components.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
    return { pool, deployId, plan, components, elapsedMs }
  }

  #longPoll (): { timeoutMs: number, attempts: number, waitMs: number, deadlineMs: number } {
    const t = this.#i.timings
    return { timeoutMs: t.requestTimeoutMs, attempts: t.attempts, waitMs: t.longPollMs, deadlineMs: t.commitTimeoutMs }
  }

  async #fail (pool: string, deployId: string, owners: Map<string, PartPlan[]>, failures: PeerFailure[],
    record: (state: PoolRecordView['state'], reason?: string) => Omit<PoolRecordView, 'version'>): Promise<never> {
    const err = new DeployFailedError(pool, deployId, failures)
    this.#i.log('deploy: abort', { pool, deployId, reason: err.message })
    const t = this.#i.timings
    await Promise.all([...owners.keys()].map(async peer => {
      try {
        await requestUntilDone(this.#i.transport, this.#i.clock, peer, { type: 'abort', deployId, pool, reason: err.message }, this.#longPoll())
      } catch (e) {
        // An owner we cannot reach lets its lease run out (prepared) or finds its parent gone (committed).
        this.#i.log('abort not confirmed', { pool, deployId, peer, error: (e as Error).message })
      }
    }))
    await this.#i.registry.update(pool, () => record('failed', err.message))
    throw err
  }

  /**
   * Terminates a pool from any peer. Owners the membership declared dead are not asked (their parts went with
   * their host, and are recorded so); the others are asked once, all at once, whether they answer at all (within
   * one request timeout). When every owner answers, the root's owner cascades down the tree (remote children
   * first, in reverse order), then every part is told directly, in reverse definition order, so owners whose
   * parent's peer is gone are reached too (terminate-part is idempotent). When some owner is dead or silent, a
   * cascade would wait on it at every level: each part is told directly instead, without cascading, the deepest
   * parts first (each level at once). Then the claims go back and the registry says terminated.
   */
  async terminate (pool: string, kind: 'normal' | 'abnormal' = 'normal', reason = 'terminated by the operator', auth?: SignedRequest): Promise<TerminateOutcome> {
    const r = this.#i.registry.get(pool)
    if (r === undefined) throw new PoolNotFoundError(pool)
    if (r.state === 'preparing' || r.state === 'committing') throw new PoolBusyError(pool, r.state)
    // Written here at once; its push to the other members (a silent one costs a request timeout) goes on while the
    // owners are asked, which costs no more.
    const marking = this.#i.registry.update(pool, old => ({ ...(old ?? r), state: 'terminating' }))
    const isDead = this.#i.isDead
    const lost = r.parts.filter(p => p.placement === 'failed' || isDead(p.peer)).map(p => ({ path: p.path, host: p.host, peer: p.peer }))
    if (lost.length > 0) this.#i.log('terminate: parts lost with their host, not asked', { pool, lost })
    const [silent] = await Promise.all([this.#silent(pool, [...new Set(r.parts.map(p => p.peer))].filter(p => !isDead(p))), marking])
    const unreachable = new Set(silent)
    const refusals: Array<{ peer: string, path: string, reason: string }> = []
    const refused = new Set<string>()
    const send = async (part: { path: string, peer: string, host?: string }, cascade: boolean): Promise<void> => {
      if (isDead(part.peer) || unreachable.has(part.peer) || refused.has(part.peer)) return
      try {
        await requestUntilDone(this.#i.transport, this.#i.clock, part.peer, { type: 'terminate-part', pool, path: part.path, kind, reason, fromParent: true, ...(cascade ? {} : { cascade: false }), ...(auth !== undefined ? { auth } : {}) }, this.#longPoll())
      } catch (err) {
        // An owner that answered with an error still runs its part: not the same as one that is gone.
        if (failureKind(err) === 'error') {
          refused.add(part.peer)
          const reason = err instanceof DeployTransportError ? err.detail : (err as Error).message
          refusals.push({ peer: part.host ?? part.peer, path: part.path, reason })
          this.#i.log('terminate: owner refused', { pool, path: part.path, peer: part.peer, error: (err as Error).message })
          return
        }
        unreachable.add(part.peer)
        this.#i.log('terminate: owner unreachable', { pool, path: part.path, peer: part.peer, error: (err as Error).message })
      }
    }
    if (unreachable.size === 0 && lost.length === 0) {
      const root = r.parts.find(p => p.path === '')
      if (root !== undefined) await send(root, true)
      for (const part of [...r.parts].reverse()) await send(part, true)
    } else {
      for (const level of deepestFirst(r.parts)) await Promise.all(level.map(async part => { await send(part, false) }))
    }
    if (refusals.length > 0) {
      const err = new TerminateRefusedError(pool, refusals)
      await this.#i.registry.update(pool, old => ({ ...(old ?? r), state: 'terminating', reason: err.message }))
      throw err
    }
    // The claims go back at the holders that can answer: a silent one would cost two request timeouts for nothing.
    const claimClient = unreachable.size === 0 ? this.#i.claimClient : { ...this.#i.claimClient, members: () => this.#i.claimClient.members().filter(p => !unreachable.has(p)) }
    await releaseClaims(claimClient, r.deployId, pool, r.claims)
    const lostNote = lost.length > 0 ? `; lost with their host: ${lost.map(p => `${p.path === '' ? '(root)' : p.path} on ${p.host} (${p.peer})`).join(', ')}` : ''
    const lostAt = new Set(lost.map(p => p.path))
    const ended = this.#i.registry.update(pool, old => {
      const cur = old ?? r
      return { ...cur, parts: cur.parts.map(p => lostAt.has(p.path) && p.reason === undefined ? { ...p, reason: `lost with host ${p.host} (peer ${p.peer})` } : p), state: 'terminated', reason: `${kind}: ${reason}${lostNote}` }
    })
    // Written here already; with a silent owner among the members, its push would wait on it: not awaited then.
    if (unreachable.size === 0) await ended
    else ended.catch(err => { this.#i.log('terminate: record not pushed to every member', { pool, error: (err as Error).message }) })
    return { unreachable: [...unreachable].sort(), lost }
  }

  /** The owners among `peers` that give no answer within one request timeout (asked all at once). */
  async #silent (pool: string, peers: string[]): Promise<string[]> {
    const deadline = this.#i.clock.now() + this.#i.timings.requestTimeoutMs
    const silent: string[] = []
    await Promise.all(peers.map(async peer => {
      try {
        // Abandoned (undefined) once the membership declares it dead: then it is skipped as dead, not silent.
        await requestWhile(this.#i.transport, this.#i.clock, peer, { type: 'status', pool }, { deadline, wanted: () => !this.#i.isDead(peer) })
      } catch (err) {
        // An owner that answers with an error is there: its terminate will say what is wrong.
        if (failureKind(err) !== 'error') silent.push(peer)
      }
    }))
    return silent
  }
}

/** The parts grouped by depth in the tree of parts (ancestors that are parts themselves), deepest first. */
export function deepestFirst<P extends { path: string }> (parts: readonly P[]): P[][] {
  const paths = new Set(parts.map(p => p.path))
  const depth = (path: string): number => {
    if (path === '') return 0
    const segs = path.split(':')
    let n = paths.has('') ? 1 : 0
    for (let i = 1; i < segs.length; i++) if (paths.has(segs.slice(0, i).join(':'))) n++
    return n
  }
  const levels: P[][] = []
  for (const p of [...parts].reverse()) (levels[depth(p.path)] ??= []).push(p)
  return levels.filter(l => l !== undefined).reverse()
}
