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
      if (err instanceof DeployTransportError && err.code === 'remote-error') throw err
      // A connection being closed under us (the peer hung up, a stale one) fails at once, and so would an
      // immediate resend over it: give it a moment to go so the next send dials afresh.
      const pause = o.backoffMs ?? (err instanceof DeployTransportError && err.code === 'unreachable' ? UNREACHABLE_PAUSE_MS : 0)
      if (i + 1 < o.attempts && pause > 0) await clock.sleep(pause)
    }
  }
  throw last
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
