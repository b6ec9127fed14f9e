import type { KeyObject } from 'node:crypto'
import { CanonicalJsonError } from './canonical.ts'
import { bodyDigest, DigestProofError, rootDigestOf } from './digest.ts'
import type { DigestHooks, SubtreeProof } from './digest.ts'
import { parseEnvelope, signingBytes } from './envelope.ts'
import type { RequestEnvelope } from './envelope.ts'
import { AuthError } from './errors.ts'
import { parsePublicKey, verifyBytes } from './keys.ts'
import { isPoolAction, poolAllowed, roleAllows } from './policy.ts'
import type { Action, Role } from './policy.ts'
import type { ReplayCache } from './replay.ts'
import { boundedMemo } from '../memo.ts'

// Verification of an operator's request, on every peer that executes any part of it. The checks run cheapest first
// (shape, time, key lookup) so a flood of junk costs no signature verification; the replay cache is written last,
// only for a request that passed everything, so a forger cannot burn a real request's id.

export const DEFAULT_WINDOW_MS = 5 * 60 * 1000

export interface TrustEntry {
  /** `ed25519:BASE64URL` */
  key: string
  role: Role
  /** Pool globs an operator or viewer is limited to; an admin ignores them. */
  pools: string[]
}

/** What the verifier needs of a trust store: a lookup by public key text. */
export interface TrustLookup {
  lookup (key: string): TrustEntry | undefined
}

export interface VerifyOptions {
  /** Accepted clock difference both ways, ms (default 5 minutes). */
  windowMs?: number
  /** The action and pool this peer is about to execute: they must be the envelope's (else `action-mismatch`). */
  expect?: { action?: Action, pool?: string }
  /**
   * Replay scope: one envelope is accepted once per scope on a peer. The whole request is scope ""; a forwarded
   * subtree uses its path, so a peer owning two subtrees of one pool (or being both entry and owner) accepts each once.
   */
  scope?: string
  /** verifySubtreeRequest only: how the received subtree maps back to the signed one (digest.ts DigestHooks). */
  digestHooks?: DigestHooks
}

export interface VerifiedRequest {
  operator: string
  role: Role
  action: Action
  pool?: string
  id: string
  time: number
}

/**
 * The one function a peer calls before executing a request it received whole: throws AuthError (see its reasons),
 * or returns who asked and with which role. `now` is the peer's wall clock in ms since the epoch.
 */
export function verifyRequest (envelope: unknown, body: unknown, trust: TrustLookup, replay: ReplayCache, now: number, options: VerifyOptions = {}): VerifiedRequest {
  const env = parseEnvelope(envelope)
  let digest: string
  try {
    digest = bodyDigest(body)
  } catch (err) {
    if (err instanceof CanonicalJsonError) throw new AuthError('body-mismatch', `the body cannot be digested: ${err.message}`, context(env, err))
    throw err
  }
  return verifyDigest(env, digest, trust, replay, now, options)
}

/**
 * For a subtree forwarded by another peer: `subtree` is the part this peer owns, `proof` ties it to the digest the
 * operator signed over the whole body (digest.ts). The forwarding peer is not trusted for anything.
 */
export function verifySubtreeRequest (envelope: unknown, subtree: unknown, proof: SubtreeProof | unknown, trust: TrustLookup, replay: ReplayCache, now: number, options: VerifyOptions = {}): VerifiedRequest {
  const env = parseEnvelope(envelope)
  let digest: string
  try {
    digest = rootDigestOf(subtree, proof, options.digestHooks)
  } catch (err) {
    if (err instanceof DigestProofError || err instanceof CanonicalJsonError) {
      throw new AuthError('body-mismatch', `the forwarded subtree is not part of the signed request: ${err.message}`, context(env, err))
    }
    throw err
  }
  const path = (proof as SubtreeProof).path.join(':')
  return verifyDigest(env, digest, trust, replay, now, { ...options, scope: options.scope ?? path })
}

function context (env: RequestEnvelope, cause?: unknown): { operator: string, action: string, pool?: string, requestId: string, cause?: unknown } {
  return { operator: env.operator, action: env.action, ...(env.pool !== undefined ? { pool: env.pool } : {}), requestId: env.id, ...(cause !== undefined ? { cause } : {}) }
}

// Parsed keys by text: a trust store holds few keys and verifying parses one per request otherwise.
const keyOf: (text: string) => KeyObject = boundedMemo(parsePublicKey, 1024)

function verifyDigest (env: RequestEnvelope, digest: string, trust: TrustLookup, replay: ReplayCache, now: number, options: VerifyOptions): VerifiedRequest {
  const ctx = context(env)
  const windowMs = options.windowMs ?? DEFAULT_WINDOW_MS
  const expect = options.expect
  if (expect?.action !== undefined && expect.action !== env.action) {
    throw new AuthError('action-mismatch', `the request is ${expect.action} but the signature is for ${env.action}`, ctx)
  }
  if (expect !== undefined && 'pool' in expect && expect.pool !== env.pool) {
    throw new AuthError('action-mismatch', `the request is for pool ${JSON.stringify(expect.pool)} but the signature is for ${JSON.stringify(env.pool)}`, ctx)
  }
  const skew = now - env.time
  if (Math.abs(skew) > windowMs) {
    throw new AuthError('time-window', `signed ${Math.round(skew / 1000)} s ${skew > 0 ? 'ago' : 'in the future'}; the window is ±${Math.round(windowMs / 1000)} s`, ctx)
  }
  const entry = trust.lookup(env.operator)
  if (entry === undefined) throw new AuthError('unknown-key', `${env.operator} is not in this peer's trust store`, ctx)
  if (!verifyBytes(keyOf(env.operator), signingBytes(env), env.sig)) {
    throw new AuthError('bad-signature', 'the signature does not verify', ctx)
  }
  if (digest !== env.bodyDigest) throw new AuthError('body-mismatch', 'the request body is not the one signed', ctx)
  if (!roleAllows(entry.role, env.action)) {
    throw new AuthError('role-not-allowed', `a ${entry.role} may not ${env.action}`, ctx)
  }
  if (isPoolAction(env.action)) {
    if (env.pool === undefined) throw new AuthError('malformed', `${env.action} must name its pool`, ctx)
    if (!poolAllowed(entry.role, entry.pools, env.pool)) {
      throw new AuthError('pool-not-allowed', `pool ${JSON.stringify(env.pool)} matches none of ${JSON.stringify(entry.pools)}`, ctx)
    }
  }
  const key = options.scope ? `${env.id}\0${options.scope}` : env.id
  const verdict = replay.admit(key, env.time, env.time + windowMs, now)
  if (verdict === 'replayed') throw new AuthError('replayed', `request ${env.id} was already accepted (or signed before this peer started)`, ctx)
  if (verdict === 'full') throw new AuthError('replay-cache-full', 'too many requests inside one window; try again later', ctx)
  return { operator: env.operator, role: entry.role, action: env.action, ...(env.pool !== undefined ? { pool: env.pool } : {}), id: env.id, time: env.time }
}
