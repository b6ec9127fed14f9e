import { AuthError, MAX_ENVELOPE_BYTES, parseEnvelope } from './auth/index.ts'
import type { RequestEnvelope } from './auth/index.ts'
import { isValidHostName } from './directory.ts'
import { ProtocolValidationError } from './errors.ts'
import { MAX_HOST_NAME_LENGTH, MAX_ID_LENGTH } from './limits.ts'
import { arr, int, jsonBytes, obj, oneOf, onlyKeys, parseJsonBytes, str } from './validate.ts'

// `sdpeer hosts forget NAME [--peer ID]`, peer to peer: the entry peer hands every member the operator's request as
// the operator signed it (the control API's body `{ op: "forget", host, peer? }` and its envelope), and each member
// verifies it against its own trust store before dropping anything. The answer says what that member dropped
// (peer and the epoch/seq it now refuses) and which claimants it kept and why.

export interface ForgetBody {
  op: 'forget'
  host: string
  /** The one claimant to forget, even a live one; without it, only claimants that are not alive. */
  peer?: string
}

export interface ForgetWireRequest {
  /** Absent only from an --insecure mesh: a secure peer refuses it. */
  envelope?: RequestEnvelope
  body: ForgetBody
}

export interface ForgottenVersion { peerId: string, epoch: number, seq: number }
export type KeptReason = 'alive' | 'suspect' | 'self' | 'not-named'
export const KEPT_REASONS: readonly KeptReason[] = ['alive', 'suspect', 'self', 'not-named']
export interface KeptClaimant { peerId: string, reason: KeptReason }

export interface ForgetWireResponse {
  forgotten: ForgottenVersion[]
  kept: KeptClaimant[]
}

/** Claimants of one name a peer reports on; far more than any real conflict. */
export const MAX_FORGET_CLAIMANTS = 64
export const MAX_FORGET_REQUEST_BYTES = MAX_ENVELOPE_BYTES + MAX_HOST_NAME_LENGTH + MAX_ID_LENGTH + 128
export const MAX_FORGET_RESPONSE_BYTES = 2 * MAX_FORGET_CLAIMANTS * (MAX_ID_LENGTH + 64) + 64

/** Validates the signed body (also the control API's fields): a host name and, optionally, a peer id. */
export function validateForgetBody (v: unknown, path = 'body'): ForgetBody {
  const o = obj(v, path)
  onlyKeys(o, path, ['op', 'host', 'peer'])
  if (o.op !== 'forget') throw new ProtocolValidationError(`${path}.op`, 'expected "forget"')
  const host = str(o.host, `${path}.host`, MAX_HOST_NAME_LENGTH)
  if (!isValidHostName(host)) throw new ProtocolValidationError(`${path}.host`, `${JSON.stringify(host.slice(0, 80))} is not a valid host name`)
  if (o.peer === undefined) return { op: 'forget', host }
  const peer = str(o.peer, `${path}.peer`, MAX_ID_LENGTH)
  if (!/^[1-9A-HJ-NP-Za-km-z]+$/.test(peer)) throw new ProtocolValidationError(`${path}.peer`, 'not a peer id (base58)')
  return { op: 'forget', host, peer }
}

export function encodeForgetRequest (r: ForgetWireRequest): Uint8Array {
  return jsonBytes(r.envelope !== undefined ? { envelope: r.envelope, body: r.body } : { body: r.body })
}

export function decodeForgetRequest (bytes: Uint8Array): ForgetWireRequest {
  const o = obj(parseJsonBytes(bytes, MAX_FORGET_REQUEST_BYTES), '')
  onlyKeys(o, '', ['envelope', 'body'])
  const body = validateForgetBody(o.body)
  if (o.envelope === undefined) return { body }
  try {
    return { envelope: parseEnvelope(o.envelope), body }
  } catch (err) {
    if (err instanceof AuthError) throw new ProtocolValidationError('envelope', err.message)
    throw err
  }
}

export function encodeForgetResponse (r: ForgetWireResponse): Uint8Array {
  return jsonBytes({ forgotten: r.forgotten, kept: r.kept })
}

export function decodeForgetResponse (bytes: Uint8Array): ForgetWireResponse {
  const o = obj(parseJsonBytes(bytes, MAX_FORGET_RESPONSE_BYTES), '')
  onlyKeys(o, '', ['forgotten', 'kept'])
  const forgotten = arr(o.forgotten, 'forgotten', MAX_FORGET_CLAIMANTS).map((v, i): ForgottenVersion => {
    const f = obj(v, `forgotten[${i}]`)
    onlyKeys(f, `forgotten[${i}]`, ['peerId', 'epoch', 'seq'])
    return { peerId: str(f.peerId, `forgotten[${i}].peerId`, MAX_ID_LENGTH), epoch: int(f.epoch, `forgotten[${i}].epoch`), seq: int(f.seq, `forgotten[${i}].seq`) }
  })
  const kept = arr(o.kept, 'kept', MAX_FORGET_CLAIMANTS).map((v, i): KeptClaimant => {
    const k = obj(v, `kept[${i}]`)
    onlyKeys(k, `kept[${i}]`, ['peerId', 'reason'])
    return { peerId: str(k.peerId, `kept[${i}].peerId`, MAX_ID_LENGTH), reason: oneOf(k.reason, `kept[${i}].reason`, KEPT_REASONS) }
  })
  return { forgotten, kept }
}
