import { DIRECTORY_FORGET_PROTOCOL } from '../../protocol/ids.ts'
import {
  decodeForgetRequest, decodeForgetResponse, encodeForgetRequest, encodeForgetResponse, MAX_FORGET_CLAIMANTS,
  MAX_FORGET_REQUEST_BYTES, MAX_FORGET_RESPONSE_BYTES
} from '../../protocol/forget.ts'
import type { ForgetBody, ForgetWireRequest, ForgetWireResponse, ForgottenVersion, KeptClaimant } from '../../protocol/forget.ts'
import type { Directory } from './directory.ts'
import type { MemberStatus } from './membership/types.ts'
import type { Rpc, RpcProtocolSpec } from './rpc.ts'

// `sdpeer hosts forget NAME [--peer ID]` across the mesh. The entry peer decides whether the request makes sense
// here (a claimant exists; without --peer, some claimant is not alive), drops what it should, then hands the signed
// request to every member it believes reachable. Each member verifies the operator's signature itself (the
// `authorize` hook: trust store, admin role, replay window) and drops, from its own directory and by its own
// liveness view, the same claimants. Dropped announcements leave tombstones (directory.ts), so directory sync and
// gossip do not bring them back. A member that was unreachable keeps its copy: the answer names it.

export const forgetProtocol: RpcProtocolSpec<ForgetWireRequest, ForgetWireResponse> = {
  id: DIRECTORY_FORGET_PROTOCOL,
  request: { maxBytes: MAX_FORGET_REQUEST_BYTES, encode: encodeForgetRequest, decode: decodeForgetRequest },
  response: { maxBytes: MAX_FORGET_RESPONSE_BYTES, encode: encodeForgetResponse, decode: decodeForgetResponse }
}

/** How this peer sees a claimant. */
export type ClaimantState = MemberStatus | 'self' | 'unknown'

/** The entry peer refuses a forget that would do nothing or touch a live peer not named. Stable `reason`. */
export class ForgetRefusedError extends Error {
  override readonly name = 'ForgetRefusedError'
  readonly reason: 'no-claimant' | 'not-claimant' | 'self' | 'live'
  readonly host: string
  constructor (reason: ForgetRefusedError['reason'], host: string, message: string) {
    super(`hosts forget ${host}: ${message}`)
    this.reason = reason
    this.host = host
  }
}

/** Throws (AuthError, typically) when this peer must not act on the request; `from` is the forwarding peer. */
export type ForgetAuthorizer = (req: ForgetWireRequest, from: string) => void | Promise<void>

export interface ForgetPlan { forget: string[], kept: KeptClaimant[] }

/** Which claimants of the name to drop: the one named, or every one not alive; never this peer itself. */
export function planForget (claimants: readonly string[], stateOf: (peerId: string) => ClaimantState, body: ForgetBody): ForgetPlan {
  const forget: string[] = []
  const kept: KeptClaimant[] = []
  for (const peerId of claimants.slice(0, MAX_FORGET_CLAIMANTS)) {
    const state = stateOf(peerId)
    if (state === 'self') kept.push({ peerId, reason: 'self' })
    else if (body.peer !== undefined) {
      if (peerId === body.peer) forget.push(peerId)
      else kept.push({ peerId, reason: 'not-named' })
    } else if (state === 'alive' || state === 'suspect') kept.push({ peerId, reason: state })
    else forget.push(peerId)
  }
  return { forget, kept }
}

/**
 * The entry peer's checks, before anything is dropped anywhere. `forgotten`: peers whose claim of the name this
 * peer forgot already; a request that drops nothing here still goes out then, for members that missed the first.
 */
export function checkForget (claimants: readonly string[], plan: ForgetPlan, body: ForgetBody, self: string, forgotten: readonly string[] = []): void {
  const { host, peer } = body
  const again = peer === undefined ? forgotten.length > 0 : forgotten.includes(peer)
  if (again && plan.forget.length === 0) return
  if (claimants.length === 0) throw new ForgetRefusedError('no-claimant', host, 'no peer claims this host name in this daemon\'s directory')
  if (peer !== undefined && peer === self) throw new ForgetRefusedError('self', host, `peer ${peer} is this daemon: it cannot forget itself (ask another peer's daemon)`)
  if (peer !== undefined && !claimants.includes(peer)) throw new ForgetRefusedError('not-claimant', host, `peer ${peer} does not claim it (claimants: ${claimants.join(', ')})`)
  if (plan.forget.length === 0) {
    const live = plan.kept.map(k => `${k.peerId} (${k.reason === 'self' ? 'this daemon' : k.reason})`).join(', ')
    throw new ForgetRefusedError('live', host, `every claimant is live: ${live}; nothing forgotten. To forget a live peer, name it: --peer ID`)
  }
}

export interface MemberOutcome {
  peerId: string
  outcome: 'done' | 'refused' | 'unreachable'
  forgotten: ForgottenVersion[]
  kept: KeptClaimant[]
  message?: string
}

export interface ForgetOutcome {
  host: string
  /** What the entry peer dropped and kept. */
  forgotten: ForgottenVersion[]
  kept: KeptClaimant[]
  /** Every other member told, sorted by peer id. */
  members: MemberOutcome[]
}

export interface ForgetServiceInit {
  self: string
  directory: Directory
  rpc: Pick<Rpc, 'request' | 'handle' | 'unhandle'>
  stateOf: (peerId: string) => ClaimantState
  /** Members to hand the request to (those believed reachable). */
  members: () => string[]
  /** Checks a request forwarded by another peer; absent, every forwarded forget is refused. */
  authorize?: ForgetAuthorizer
  timeoutMs?: number
  log?: (message: string, context: Record<string, unknown>) => void
}

export class ForgetService {
  readonly #init: ForgetServiceInit

  constructor (init: ForgetServiceInit) {
    this.#init = init
  }

  async start (): Promise<void> {
    await this.#init.rpc.handle(forgetProtocol, async (req, ctx) => {
      const authorize = this.#init.authorize ?? refuseAll
      await authorize(req, ctx.peer)
      const res = this.apply(req.body)
      this.#init.log?.('hosts forget (forwarded)', { host: req.body.host, from: ctx.peer, forgotten: res.forgotten.map(f => f.peerId), kept: res.kept })
      return res
    })
  }

  async stop (): Promise<void> {
    await this.#init.rpc.unhandle(forgetProtocol).catch(() => {})
  }

  /** Drops, here, the claimants of the request's name that the plan picks. No authorization: callers check. */
  apply (body: ForgetBody): ForgetWireResponse {
    const { directory, stateOf } = this.#init
    const plan = planForget(directory.claimants(body.host), stateOf, body)
    const forgotten = plan.forget.flatMap(p => {
      const t = directory.forget(p)
      return t !== undefined ? [{ peerId: p, epoch: t.epoch, seq: t.seq }] : []
    })
    return { forgotten, kept: plan.kept }
  }

  /**
   * The entry peer's half: the request has passed this peer's own check (the control API's auth gate). Throws
   * ForgetRefusedError before anything is dropped; otherwise drops here and asks every member to do the same.
   */
  async spread (req: ForgetWireRequest): Promise<ForgetOutcome> {
    const { directory, stateOf, self } = this.#init
    const claimants = directory.claimants(req.body.host)
    checkForget(claimants, planForget(claimants, stateOf, req.body), req.body, self, directory.forgottenClaimants(req.body.host))
    const here = this.apply(req.body)
    this.#init.log?.('hosts forget', { host: req.body.host, forgotten: here.forgotten.map(f => f.peerId), kept: here.kept })
    const dropped = new Set(here.forgotten.map(f => f.peerId))
    const targets = [...new Set(this.#init.members())].filter(p => p !== self && !dropped.has(p)).sort()
    const members = await Promise.all(targets.map(async (peerId): Promise<MemberOutcome> => {
      try {
        const r = await this.#init.rpc.request(peerId, forgetProtocol, req, { timeoutMs: this.#init.timeoutMs ?? 5_000 })
        return { peerId, outcome: 'done', ...r }
      } catch (err) {
        const e = err as Error & { code?: string }
        return { peerId, outcome: e.code === 'remote-error' ? 'refused' : 'unreachable', forgotten: [], kept: [], message: e.message }
      }
    }))
    return { host: req.body.host, ...here, members }
  }
}

function refuseAll (): never {
  throw new Error('this peer verifies no operator signatures for hosts forget')
}
