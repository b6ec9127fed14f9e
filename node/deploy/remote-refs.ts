import { jsonBytes } from '../../protocol/validate.ts'
import type { RemoteAskOptions } from '../engine/remote.ts'
import { asNode, DataNode, isResolveNode, resolveReferenceText } from '../engine/resolve.ts'
import type { ResolveNode } from '../engine/resolve.ts'
import type { SfJson, SfJsonObject } from '../sf/sfjson.ts'
import { isEagerComponent, isRef } from '../sf/sfjson.ts'
import { DeployTransportError } from './errors.ts'
import { partOf } from './split.ts'
import type { DeployRequest, DeployTransport, PartEngine, PartPlan, PoolRecordView } from './types.ts'

// LAZY references across the parts of a split pool (issue 5). A walk that reaches a component held by another
// peer hands the rest of the reference to that part's owner: a `resolve` request {pool, path, ref} on the deploy
// protocol (so only members of the mesh, over the pool-key-protected connection, can ask), answered by the owner's
// engine from the component at `path`, which may in turn ask a third peer. Each request carries the hops taken
// and the time left, so a lookup is bounded in hops, time and answer size. What comes back is a value, or a
// component's path: a component of another host can be named but never used (split refuses that at deploy).

export const MAX_REF_HOPS = 8
/** The largest answer a reference may carry across the mesh (JSON bytes). */
export const MAX_REF_VALUE_BYTES = 64 * 1024
/** Time kept back at each hop so an inner failure reaches the asker before the asker's own timeout. */
const HOP_MARGIN_MS = 150
const RETRY_MS = 25

/** A reference that needed another peer's answer and did not get one. Names the peer (host and peer id). */
export class RemoteRefError extends Error {
  override readonly name = 'RemoteRefError'
  readonly pool: string
  readonly path: string
  constructor (pool: string, path: string, ref: string, why: string, options?: { cause?: unknown }) {
    super(`${pool}:${path}: cannot resolve ${ref} there: ${why}`, options)
    this.pool = pool
    this.path = path
  }
}

/** A LAZY reference from a component to a component of another part, usually another host (found at split). */
export class RemoteComponentReferenceError extends Error {
  override readonly name = 'RemoteComponentReferenceError'
  readonly pool: string
  readonly attrPath: string
  constructor (pool: string, attrPath: string, target: string, targetHost: string, fromHost: string) {
    super(targetHost !== fromHost
      ? `${pool}: ${attrPath} leads to ${target}, a component on ${targetHost}, but it is read on ${fromHost}: ` +
        'a component can only use components of its own host (a VM cannot use a disk of another host); ' +
        'put both on one host, or refer to a value (an attribute) of that component instead'
      : `${pool}: ${attrPath} leads to ${target}, a component of another subtree placed by its own sfProcessHost ` +
        `(both on ${fromHost}, deployed apart): a component can only use components of its own subtree; ` +
        'move them under one sfProcessHost, or refer to a value (an attribute) of that component instead')
    this.pool = pool
    this.attrPath = attrPath
  }
}

export interface Owner { peer: string, host: string }

export interface RefRouterComponents {
  /** The deploy transport (requests to this very peer handled in place). */
  transport: DeployTransport
  requestTimeoutMs: number
  engine: PartEngine
  /** The owner of the part holding `path`: the pool registry, else this peer's own parts' plans. */
  ownerOf: (pool: string, path: string) => Owner | undefined
}

type ResolveRequest = Extract<DeployRequest, { type: 'resolve' }>

/** Both ends of a cross-peer reference: `resolve` asks an owner, `answer` is that owner's side. */
export class RefRouter {
  readonly #c: RefRouterComponents

  constructor (c: RefRouterComponents) {
    this.#c = c
  }

  async resolve (pool: string, path: string, ref: string, o: RemoteAskOptions): Promise<SfJson> {
    if (o.hops >= MAX_REF_HOPS) throw new RemoteRefError(pool, path, ref, `more than ${MAX_REF_HOPS} hops between peers (a cycle?)`)
    const owner = this.#c.ownerOf(pool, path)
    if (owner === undefined) throw new RemoteRefError(pool, path, ref, 'no part of the pool holds that path')
    const timeoutMs = Math.min(this.#c.requestTimeoutMs, o.budgetMs ?? Infinity) - HOP_MARGIN_MS
    if (timeoutMs <= 0) throw new RemoteRefError(pool, path, ref, `no time left to ask ${owner.host} (${owner.peer})`)
    const req: ResolveRequest = { type: 'resolve', pool, path, ref, hops: o.hops + 1, budgetMs: Math.ceil(timeoutMs) }
    try {
      const res = await this.#c.transport.request(owner.peer, req, { timeoutMs, ...(o.signal !== undefined ? { signal: o.signal } : {}) })
      if (res.type !== 'value') throw new Error(`unexpected answer ${res.type}`)
      return res.value
    } catch (err) {
      const how = err instanceof DeployTransportError ? err.code : 'error'
      throw new RemoteRefError(pool, path, ref, `${owner.host} (${owner.peer}) ${how === 'remote-error' ? 'refused' : how}: ${(err as Error).message}`, { cause: err })
    }
  }

  /** The owner's side: resolves from its part, waiting (within the budget) for a part still being committed. */
  async answer (req: ResolveRequest): Promise<SfJson> {
    const engine = this.#c.engine
    if (engine.resolveRef === undefined) throw new Error('this peer\'s engine does not resolve references')
    const ref = req.ref ?? ''
    const hops = req.hops ?? MAX_REF_HOPS
    if (hops > MAX_REF_HOPS) throw new RemoteRefError(req.pool, req.path, ref, `more than ${MAX_REF_HOPS} hops between peers (a cycle?)`)
    const budgetMs = req.budgetMs ?? this.#c.requestTimeoutMs
    const end = Date.now() + budgetMs - HOP_MARGIN_MS
    for (;;) {
      try {
        const v = await engine.resolveRef(req.pool, req.path, ref, { hops, budgetMs: Math.max(1, end - Date.now()) })
        const size = jsonBytes(v).byteLength
        if (size > MAX_REF_VALUE_BYTES) throw new RemoteRefError(req.pool, req.path, ref, `the value is ${size} bytes, over the ${MAX_REF_VALUE_BYTES} a reference may carry between peers`)
        return v
      } catch (err) {
        // The asker's part may be deploying while this one's commit is still on its way.
        if (!(err instanceof PartNotReadyError) || Date.now() + RETRY_MS >= end) throw err
        await new Promise(resolve => setTimeout(resolve, RETRY_MS))
      }
    }
  }
}

/** The part holding a path is not (yet) deployed on this peer. */
export class PartNotReadyError extends Error {
  override readonly name = 'PartNotReadyError'
}

/** The owner of `path`: the pool registry's record when this peer has it, else what its own parts' plans say. */
export function ownerOf (record: PoolRecordView | undefined, plans: readonly PartPlan[], self: Owner, path: string): Owner | undefined {
  if (record !== undefined) {
    const part = partOf(record.parts, path)
    if (part !== undefined) return { peer: part.peer, host: part.host }
  }
  return ownerFromPlans(plans, self, path)
}

/** The owner of `path` from a set of part plans (this peer's own parts, their parent and their remote children). */
function ownerFromPlans (plans: readonly PartPlan[], self: Owner, path: string): Owner | undefined {
  let best: { path: string, owner: Owner } | undefined
  const consider = (p: string, owner: Owner): void => {
    const under = p === '' || path === p || path.startsWith(`${p}:`)
    if (under && (best === undefined || p.length > best.path.length)) best = { path: p, owner }
  }
  for (const plan of plans) {
    consider(plan.path, self)
    if (plan.parentPath !== undefined && plan.parentPeer !== undefined) consider(plan.parentPath, { peer: plan.parentPeer, host: plan.parentPeer })
    for (const c of plan.remoteChildren) consider(c.path, { peer: c.peer, host: c.host })
  }
  return best?.owner
}

// ---- at split: references to components of another host ------------------------------------------------------

/** The root of a description, walked like the live tree (before it is split: every component is here). */
class DescriptionRoot implements ResolveNode {
  readonly path = ''
  readonly parentNode = undefined
  readonly #cd: SfJsonObject
  constructor (cd: SfJsonObject) { this.#cd = cd }
  lookupOwn (name: string): ResolveNode | SfJson | undefined {
    if (name.startsWith('$') || !Object.hasOwn(this.#cd, name)) return undefined
    return asNode(this, name, this.#cd[name])
  }
}

/**
 * Throws RemoteComponentReferenceError for the first LAZY reference of a component that leads to a component
 * deployed by another peer. Resolved against the description, as the live tree would at first: a reference that
 * only resolves at run time (to a value `set` later, say) is left to run time.
 */
export function checkRemoteComponentRefs (pool: string, config: SfJsonObject, parts: readonly PartPlan[]): void {
  if (parts.length < 2) return
  const partAt = (path: string): PartPlan => {
    let best = parts[0]
    for (const p of parts) if ((p.path === '' || path === p.path || path.startsWith(`${p.path}:`)) && p.path.length > best.path.length) best = p
    return best
  }
  const visit = (node: ResolveNode, cd: SfJsonObject): void => {
    const here = partAt(node.path)
    for (const [name, v] of Object.entries(cd)) {
      if (name.startsWith('$')) continue
      if (isEagerComponent(v)) {
        const child = asNode(node, name, v)
        if (child instanceof DataNode) visit(child, v)
        continue
      }
      if (!isRef(v)) continue
      let target
      try { target = resolveReferenceText(v.$ref, node, pool) } catch { continue }
      if (!isResolveNode(target) || !(target instanceof DataNode) || !isEagerComponent(target.value)) continue
      const there = partAt(target.path)
      if (there !== here) {
        throw new RemoteComponentReferenceError(pool, node.path === '' ? name : `${node.path}:${name}`, target.path, there.host, here.host)
      }
    }
  }
  visit(new DescriptionRoot(config), config)
}
