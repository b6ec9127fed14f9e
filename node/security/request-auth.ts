import type { KeyObject } from 'node:crypto'
import { AuthError, isAction, requiresSignature, signRequest, verifyRequest } from '../../protocol/auth/index.ts'
import type { Action, ReplayCache, RequestEnvelope, SignOptions, TrustLookup, VerifiedRequest, VerifyOptions } from '../../protocol/auth/index.ts'

// The seam between control-API requests (node/api/messages.ts) and operator signatures. The signed body of a request
// is the request itself minus `id` (the connection's correlation number) and `auth` (the envelope): so for deploy it
// is `{ op, pool, config, wait }`, and a forwarded subtree is proved from the path ["config", ...component path].
// Typed structurally so it works with the API's Request union without this module owning it.

export interface ApiLikeRequest {
  op: string
  id?: number | string
  pool?: string
  auth?: unknown
  [field: string]: unknown
}

/** The action an API op stands for (`cancel` only stops a stream of the caller's own connection: a read). */
export function actionOf (op: string): Action {
  if (op === 'cancel') return 'ping'
  if (!isAction(op)) throw new AuthError('malformed', `unknown operation ${JSON.stringify(op.slice(0, 40))}`)
  return op
}

/** What the operator signs for an API request. */
export function apiRequestBody (req: ApiLikeRequest): Record<string, unknown> {
  const body: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(req)) if (k !== 'id' && k !== 'auth' && v !== undefined) body[k] = v
  return body
}

/** Client side: returns the request with `auth` set to the operator's envelope. */
export function signApiRequest<R extends ApiLikeRequest> (key: KeyObject, req: R, options: SignOptions = {}): R & { auth: RequestEnvelope } {
  const auth = signRequest(key, actionOf(req.op), req.pool, apiRequestBody(req), options)
  return { ...req, auth }
}

/**
 * Daemon side, the one call before executing a request: verifies a signed request (any op), requires one for every
 * op that changes something, and returns undefined for an unsigned read (allowed on the 0600 local socket only when
 * `allowUnsignedReads` is true). Throws AuthError.
 */
export function verifyApiRequest (req: ApiLikeRequest, trust: TrustLookup, replay: ReplayCache, now: number, options: VerifyOptions & { allowUnsignedReads?: boolean } = {}): VerifiedRequest | undefined {
  const action = actionOf(req.op)
  if (req.auth === undefined && !requiresSignature(action) && options.allowUnsignedReads === true) return undefined
  return verifyRequest(req.auth, apiRequestBody(req), trust, replay, now, {
    ...options,
    expect: { action, pool: req.pool }
  })
}
