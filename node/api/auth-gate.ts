import { AuthError, ReplayCache, requiresSignature } from '../../protocol/auth/index.ts'
import type { TrustLookup, VerifiedRequest } from '../../protocol/auth/index.ts'
import type { Clock } from '../seams/clock.ts'
import { actionOf, verifyApiRequest } from '../security/request-auth.ts'
import type { ApiLikeRequest } from '../security/request-auth.ts'
import type { Request } from './messages.ts'
import type { ApiContext, ApiHandler } from './server.ts'

// The control API's door: every request passes here before the daemon's handler sees it. A request that changes
// anything must carry a valid operator signature for exactly that request (protocol/auth: key trusted, role allows
// the op, pool within the key's globs, id never seen, time within the window); reads may come unsigned (the socket
// is 0600, root only). A refusal is an error answer (ApiAuthError, with its stable `reason`), never a crash, and the
// inner handler never runs for it: nothing is deployed, terminated or changed.
//
// --insecure (no trust store or no pool key): unsigned requests pass, each one logged. A signature that is present
// is still checked, except that a key this peer does not know passes too (an insecure daemon may trust nobody); a
// bad signature, a replay or a role the key lacks is refused in every mode.

export class ApiAuthError extends Error {
  override readonly name = 'ApiAuthError'
  /** AuthError's stable reason: unsigned, unknown-key, role-not-allowed, replayed, time-window... */
  readonly reason: string
  /** The request field the refusal is about (the control API's error frames carry it). */
  readonly field = 'auth'
  readonly op: string
  readonly pool?: string
  readonly operator?: string
  constructor (op: string, err: AuthError, pool?: string) {
    super(`${op}${pool !== undefined ? ` ${pool}` : ''} refused: ${err.message}`, { cause: err })
    this.reason = err.reason
    this.op = op
    if (pool !== undefined) this.pool = pool
    if (err.operator !== undefined) this.operator = err.operator
  }
}

export interface AuthGateLog {
  warn (obj: object, msg: string): void
  info? (obj: object, msg: string): void
}

export interface AuthGateOptions {
  /** The peer's trust store; `reloadIfChanged` (TrustStore has it) is called before each check. */
  trust: TrustLookup & { reloadIfChanged?: () => Promise<boolean> }
  /** Must read the wall clock in ms (realClock does): signed times are compared with it. */
  clock: Clock
  insecure: boolean
  /** The daemon's replay cache (loadHostSecurity's, whose notBefore is the start time). Default: a fresh one. */
  replay?: ReplayCache
  /** Acceptance window, ms (default protocol/auth's 5 minutes). */
  windowMs?: number
  log?: AuthGateLog
}

// Who asked, for the inner handler (logs, forwarding): keyed by the request object the gate passed on.
const verdicts = new WeakMap<object, VerifiedRequest>()

/** The operator the gate verified for this request; undefined for an unsigned read or an insecure pass. */
export function verifiedOperator (req: Request): VerifiedRequest | undefined {
  return verdicts.get(req)
}

const silent: AuthGateLog = { warn () {} }

/** What the gate decided for a request it lets through. */
export type GateVerdict =
  | { kind: 'verified', verified: VerifiedRequest }
  | { kind: 'unsigned-read' }
  | { kind: 'insecure', reason: string }

/**
 * The gate's decision, synchronous (no trust reload): throws ApiAuthError, or says why the request may run. Exposed
 * for the fuzz target and for callers that gate something other than an ApiHandler.
 */
export function createAuthorizer (o: Omit<AuthGateOptions, 'trust'> & { trust: TrustLookup, replay: ReplayCache }): (req: Request) => GateVerdict {
  const log = o.log ?? silent
  return (req) => {
    const rawOp: unknown = (req as { op?: unknown } | null)?.op
    const op = typeof rawOp === 'string' ? rawOp : String(rawOp)
    const pool = typeof (req as { pool?: unknown })?.pool === 'string' ? (req as { pool: string }).pool : undefined
    let verified: VerifiedRequest | undefined
    try {
      verified = verifyApiRequest(req as unknown as ApiLikeRequest, o.trust, o.replay, o.clock.now(), { allowUnsignedReads: true, ...(o.windowMs !== undefined ? { windowMs: o.windowMs } : {}) })
    } catch (err) {
      if (!(err instanceof AuthError)) {
        log.warn({ op, pool, err }, 'request refused: not verifiable')
        throw new ApiAuthError(op, new AuthError('malformed', (err as Error)?.message ?? String(err)), pool)
      }
      if (o.insecure && (err.reason === 'unsigned' || err.reason === 'unknown-key')) {
        log.warn({ op, pool, reason: err.reason, operator: err.operator }, 'INSECURE: running a request no trusted operator signed')
        return { kind: 'insecure', reason: err.reason }
      }
      log.warn({ op, pool, reason: err.reason, operator: err.operator, requestId: err.requestId }, `request refused: ${err.message}`)
      throw new ApiAuthError(op, err, pool)
    }
    if (verified === undefined) return { kind: 'unsigned-read' }
    verdicts.set(req, verified)
    if (requiresSignature(actionOf(op))) log.info?.({ op, pool, operator: verified.operator, role: verified.role, requestId: verified.id }, 'signed request accepted')
    return { kind: 'verified', verified }
  }
}

export function createAuthGate (inner: ApiHandler, o: AuthGateOptions): ApiHandler {
  const replay = o.replay ?? new ReplayCache({ notBefore: o.clock.now() })
  const log = o.log ?? silent
  const authorize = createAuthorizer({ ...o, replay })
  return {
    async handle (req: Request, ctx: ApiContext): Promise<unknown> {
      // `cancel` stops a stream of the caller's own connection (the server answers it before any handler).
      if (req.op === 'cancel') return await inner.handle(req, ctx)
      await o.trust.reloadIfChanged?.().catch((err: unknown) => {
        // A trust file broken by hand keeps the keys last read rather than opening or closing the door.
        log.warn({ err }, 'trust store: reload failed, keeping the keys last read')
      })
      authorize(req)
      return await inner.handle(req, ctx)
    }
  }
}
