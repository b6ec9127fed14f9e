import { randomBytes } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import { canonicalJson } from './canonical.ts'
import { bodyDigest } from './digest.ts'
import { isPublicKeyText, publicKeyText, signBytes } from './keys.ts'
import { ACTIONS, isAction } from './policy.ts'
import type { Action } from './policy.ts'
import { AuthError } from './errors.ts'

// The operator's request envelope: what the operator signs, and what travels unchanged with the request body from
// the CLI to the entry peer and on to every owner peer. The signature covers every field but itself, in canonical
// JSON behind a domain-separation prefix (a signature made here can never pass as one of another protocol).

export const ENVELOPE_VERSION = 1
/** Bytes of an envelope's JSON, generously: the real one is about 330. */
export const MAX_ENVELOPE_BYTES = 2048
const SIGNING_PREFIX = 'sdpeer-request-v1\0'
const ID = /^[0-9a-f]{32}$/
const HEX64 = /^[0-9a-f]{64}$/
const POOL = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
const FIELDS = ['v', 'id', 'time', 'operator', 'action', 'pool', 'bodyDigest', 'sig']

export interface RequestEnvelope {
  v: 1
  /** 128 random bits, hex: the replay cache's key. */
  id: string
  /** Milliseconds since the Unix epoch when the operator signed. */
  time: number
  /** The operator's public key, `ed25519:BASE64URL`. */
  operator: string
  action: Action
  /** The pool acted on; required for deploy, terminate and set. */
  pool?: string
  /** bodyDigest(body) of digest.ts: a Merkle digest, so owner peers can check a forwarded subtree alone. */
  bodyDigest: string
  /** Ed25519 over signingBytes(envelope), unpadded base64url. */
  sig: string
}

export type UnsignedEnvelope = Omit<RequestEnvelope, 'sig'>

export function signingBytes (e: UnsignedEnvelope): Uint8Array {
  const fields: Record<string, unknown> = {
    v: e.v, id: e.id, time: e.time, operator: e.operator, action: e.action, bodyDigest: e.bodyDigest
  }
  if (e.pool !== undefined) fields.pool = e.pool
  return Buffer.from(SIGNING_PREFIX + canonicalJson(fields), 'utf8')
}

export interface SignOptions {
  /** Signing time in ms since the epoch (default: the wall clock; the CLI is not a protocol core). */
  time?: number
  /** Request id (default: 128 random bits). Tests pin it to exercise the replay cache. */
  id?: string
}

/**
 * The one function a client calls to sign a request: `body` is the request's content (for deploy, the whole resolved
 * pool as `{ config }`; for set, `{ path, attr, value }`...). Send the envelope beside the body, unchanged.
 */
export function signRequest (key: KeyObject, action: Action, pool: string | undefined, body: unknown, options: SignOptions = {}): RequestEnvelope {
  if (!isAction(action)) throw new TypeError(`unknown action ${String(action)}`)
  if (pool !== undefined && !POOL.test(pool)) throw new TypeError(`${JSON.stringify(pool)} is not a pool name`)
  const unsigned: UnsignedEnvelope = {
    v: ENVELOPE_VERSION,
    id: options.id ?? randomBytes(16).toString('hex'),
    time: options.time ?? Date.now(),
    operator: publicKeyText(key),
    action,
    ...(pool !== undefined ? { pool } : {}),
    bodyDigest: bodyDigest(body)
  }
  return { ...unsigned, sig: signBytes(key, signingBytes(unsigned)) }
}

/** Validates the shape of an untrusted envelope. Throws AuthError: `unsigned` when absent, `malformed` otherwise. */
export function parseEnvelope (raw: unknown): RequestEnvelope {
  if (raw === undefined || raw === null) throw new AuthError('unsigned', 'the request carries no operator signature')
  const bad = (what: string): never => { throw new AuthError('malformed', `envelope ${what}`) }
  if (typeof raw !== 'object' || Array.isArray(raw)) bad('is not an object')
  const o = raw as Record<string, unknown>
  for (const k of Object.keys(o)) if (!FIELDS.includes(k)) bad(`has an unknown field ${JSON.stringify(k.slice(0, 40))}`)
  if (o.v !== ENVELOPE_VERSION) bad(`version must be ${ENVELOPE_VERSION}`)
  if (typeof o.id !== 'string' || !ID.test(o.id)) bad('id must be 32 lowercase hex digits')
  if (typeof o.time !== 'number' || !Number.isSafeInteger(o.time) || o.time < 0) bad('time must be a non-negative integer (ms)')
  if (!isPublicKeyText(o.operator)) bad('operator must be an ed25519: public key')
  if (!isAction(o.action)) bad(`action must be one of ${ACTIONS.join(', ')}`)
  if (o.pool !== undefined && (typeof o.pool !== 'string' || !POOL.test(o.pool))) bad('pool is not a pool name')
  if (typeof o.bodyDigest !== 'string' || !HEX64.test(o.bodyDigest)) bad('bodyDigest must be 64 lowercase hex digits')
  if (typeof o.sig !== 'string' || o.sig.length === 0 || o.sig.length > 128) bad('sig must be a signature')
  return o as unknown as RequestEnvelope
}
