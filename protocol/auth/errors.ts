// The one error of request authentication. `reason` is stable (callers and tests match on it); the message may
// improve. It carries what is known of the request so a refusal can be logged with its operator, action and pool.

export type AuthReason =
  | 'unsigned' // no envelope at all
  | 'malformed' // an envelope of the wrong shape
  | 'unknown-key' // signed by a key this peer does not trust
  | 'bad-signature' // the signature does not verify
  | 'body-mismatch' // the body (or forwarded subtree) is not the one signed
  | 'role-not-allowed' // the key's role may not do this action
  | 'pool-not-allowed' // the key's pool globs do not match the pool
  | 'replayed' // an id already accepted (or signed before this peer started)
  | 'time-window' // signed too long ago, or in the future
  | 'replay-cache-full' // too many requests inside one window; refused rather than forgetting ids early
  | 'action-mismatch' // the request asks for another action or pool than the envelope signs

export class AuthError extends Error {
  override readonly name = 'AuthError'
  readonly reason: AuthReason
  readonly operator?: string
  readonly action?: string
  readonly pool?: string
  readonly requestId?: string

  constructor (reason: AuthReason, message: string, context: { operator?: string, action?: string, pool?: string, requestId?: string, cause?: unknown } = {}) {
    super(`${reason}: ${message}`, context.cause !== undefined ? { cause: context.cause } : undefined)
    this.reason = reason
    if (context.operator !== undefined) this.operator = context.operator
    if (context.action !== undefined) this.action = context.action
    if (context.pool !== undefined) this.pool = context.pool
    if (context.requestId !== undefined) this.requestId = context.requestId
  }
}
