import type { Clock } from '../seams/clock.ts'
import { DeployTransportError } from './errors.ts'
import type { DeployRequest, DeployResponse, DeployTransport } from './types.ts'

// Every message of deploy coordination is idempotent (keyed by deploy id, pool and path), so a request that got
// no answer is simply sent again. A peer that answered with an error is not asked twice: it heard us.

export interface RetryOptions {
  timeoutMs: number
  attempts: number
  /** Pause between attempts. */
  backoffMs?: number
}

const UNREACHABLE_PAUSE_MS = 300

export async function requestWithRetry (transport: DeployTransport, clock: Clock, peer: string, req: DeployRequest, o: RetryOptions): Promise<DeployResponse> {
  let last: unknown
  for (let i = 0; i < Math.max(1, o.attempts); i++) {
    try {
      return await transport.request(peer, req, { timeoutMs: o.timeoutMs })
    } catch (err) {
      last = err
      if (err instanceof DeployTransportError && (err.code === 'remote-error' || err.dead)) throw err
      // A connection being closed under us (the peer hung up, a stale one) fails at once, and so would an
      // immediate resend over it: give it a moment to go so the next send dials afresh.
      const pause = o.backoffMs ?? (err instanceof DeployTransportError && err.code === 'unreachable' ? UNREACHABLE_PAUSE_MS : 0)
      if (i + 1 < o.attempts && pause > 0) await clock.sleep(pause)
    }
  }
  throw last
}

/** How often a watched request looks again at whether it is still wanted. */
export const WATCH_MS = 100

/**
 * One request bounded by an absolute `deadline` instead of attempts × timeout, for reads an operator waits on
 * (`status`, a terminate's first contact): a fast failure (connection refused) is sent again after a pause while
 * time is left, a silent peer costs the time left and no more. `wanted` is looked at every `watchMs`: once false
 * (the membership declared the peer dead, the pool record moved its parts elsewhere) the request is abandoned
 * and `undefined` returned at once, rather than waiting out a timeout for an answer nobody will read.
 * Rejects with DeployTransportError (timeout at the deadline, unreachable, remote-error).
 */
export async function requestWhile (transport: DeployTransport, clock: Clock, peer: string, req: DeployRequest,
  o: { deadline: number, wanted: () => boolean, watchMs?: number }): Promise<DeployResponse | undefined> {
  for (;;) {
    if (!o.wanted()) return undefined
    // Whole ms: a transport may hand it to AbortSignal.timeout, which takes integers only.
    const left = Math.floor(o.deadline - clock.now())
    if (left <= 0) throw new DeployTransportError(peer, 'timeout', `${req.type}: no answer before the deadline`)
    const stop = new AbortController()
    const sent = transport.request(peer, req, { timeoutMs: left, signal: stop.signal })
    // An abandoned request may still settle later (a transport that ignores the signal): nobody awaits it then.
    sent.catch(() => {})
    try {
      const r = await Promise.race([sent, whenUnwanted(clock, o.wanted, o.watchMs ?? WATCH_MS, stop.signal)])
      if (r === UNWANTED) return undefined
      return r
    } catch (err) {
      if (!(err instanceof DeployTransportError) || err.code !== 'unreachable' || err.dead) throw err
      if (o.deadline - clock.now() <= UNREACHABLE_PAUSE_MS) throw err
      await clock.sleep(UNREACHABLE_PAUSE_MS)
    } finally {
      stop.abort()
    }
  }
}

const UNWANTED = Symbol('unwanted')

/** Resolves UNWANTED once `wanted()` turns false; never settles once `signal` aborts (the race is over by then). */
async function whenUnwanted (clock: Clock, wanted: () => boolean, everyMs: number, signal: AbortSignal): Promise<typeof UNWANTED> {
  for (;;) {
    try { await clock.sleep(everyMs, { signal }) } catch { return await new Promise<never>(() => {}) }
    if (!wanted()) return UNWANTED
  }
}

/**
 * Sends a long-running request (commit, abort, terminate-part) as long-polls: each one answers within `waitMs`,
 * `pending` meaning "still working", and is sent again until it answers something else or `deadlineMs` passes.
 */
export async function requestUntilDone (transport: DeployTransport, clock: Clock, peer: string, req: Extract<DeployRequest, { type: 'commit' | 'abort' | 'terminate-part' }>,
  o: RetryOptions & { waitMs: number, deadlineMs: number }): Promise<DeployResponse> {
  const end = clock.now() + o.deadlineMs
  for (;;) {
    const r = await requestWithRetry(transport, clock, peer, { ...req, waitMs: o.waitMs }, { ...o, timeoutMs: o.waitMs + o.timeoutMs })
    if (r.type !== 'pending') return r
    if (clock.now() >= end) throw new DeployTransportError(peer, 'timeout', `${req.type}: still pending after ${o.deadlineMs} ms`)
  }
}

/** The DeployTransportError code of a failed request, for reports. */
export function failureKind (err: unknown): 'unreachable' | 'timeout' | 'error' {
  if (err instanceof DeployTransportError) return err.code === 'remote-error' ? 'error' : err.code
  return 'error'
}
