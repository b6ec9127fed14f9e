import { AuthError, DEFAULT_WINDOW_MS, verifyRequest } from '../../protocol/auth/index.ts'
import type { ReplayCache, TrustLookup } from '../../protocol/auth/index.ts'
import type { ForgetAuthorizer } from './forget.ts'

// A member's check of a forwarded `hosts forget`: the ORIGINAL operator's signature over exactly this body, by a key
// this peer's trust store names admin, inside the replay window, once. The forwarding peer vouches for nothing.
// --insecure follows the control API's gate: an unsigned request or an unknown key passes (logged); a bad signature,
// a replay or a role without the right is refused in every mode.

export interface ForgetAuthOptions {
  trust: TrustLookup & { reloadIfChanged?: () => Promise<boolean> }
  replay: ReplayCache
  /** Wall clock, ms. */
  now: () => number
  insecure?: boolean
  windowMs?: number
  warn?: (message: string, context: Record<string, unknown>) => void
}

export function createForgetAuthorizer (o: ForgetAuthOptions): ForgetAuthorizer {
  return async (req, from) => {
    // A trust file broken by hand keeps the keys last read.
    await o.trust.reloadIfChanged?.().catch(() => false)
    try {
      if (req.envelope === undefined) throw new AuthError('unsigned', `hosts forget ${req.body.host}: the forwarded request carries no operator signature`)
      verifyRequest(req.envelope, req.body, o.trust, o.replay, o.now(), {
        expect: { action: 'forget', pool: undefined },
        scope: 'forget',
        windowMs: o.windowMs ?? DEFAULT_WINDOW_MS
      })
    } catch (err) {
      if (o.insecure === true && err instanceof AuthError && (err.reason === 'unsigned' || err.reason === 'unknown-key')) {
        o.warn?.('INSECURE: forgetting hosts on a request no trusted operator signed', { host: req.body.host, from, reason: err.reason })
        return
      }
      throw err
    }
  }
}
