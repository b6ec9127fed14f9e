import { createPrivateKey, createPublicKey, generateKeyPairSync, sign, verify } from 'node:crypto'
import type { KeyObject } from 'node:crypto'

// Operator keys are Ed25519 (node:crypto, no dependency). A public key travels as text, `ed25519:` followed by the
// 32 raw key bytes in unpadded base64url: short enough to paste into `sdpeer trust add`, unambiguous to compare
// (one key, one spelling: the decoder refuses any other length or alphabet, so two spellings of one key cannot
// make two trust entries).

export const KEY_PREFIX = 'ed25519:'
const KEY_TEXT = /^ed25519:[A-Za-z0-9_-]{43}$/
const SIG_TEXT = /^[A-Za-z0-9_-]{86}$/

export class KeyFormatError extends Error {
  override readonly name = 'KeyFormatError'
}

export interface OperatorKeyPair {
  privateKey: KeyObject
  publicKey: KeyObject
  /** `ed25519:BASE64URL` */
  publicText: string
}

export function generateOperatorKey (): OperatorKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('ed25519')
  return { privateKey, publicKey, publicText: publicKeyText(publicKey) }
}

export function publicKeyText (key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key
  if (pub.asymmetricKeyType !== 'ed25519') throw new KeyFormatError(`not an Ed25519 key (${String(pub.asymmetricKeyType)})`)
  const jwk = pub.export({ format: 'jwk' })
  return KEY_PREFIX + String(jwk.x)
}

export function isPublicKeyText (text: unknown): text is string {
  if (typeof text !== 'string' || !KEY_TEXT.test(text)) return false
  // 43 base64url characters carry 258 bits: the last character must leave the 2 spare bits zero (one spelling).
  return Buffer.from(text.slice(KEY_PREFIX.length), 'base64url').toString('base64url') === text.slice(KEY_PREFIX.length)
}

/** Parses `ed25519:BASE64URL`; throws KeyFormatError naming what is wrong. */
export function parsePublicKey (text: string): KeyObject {
  if (!isPublicKeyText(text)) {
    throw new KeyFormatError(`${JSON.stringify(String(text).slice(0, 80))} is not an operator public key (expected ed25519: and 43 base64url characters)`)
  }
  try {
    return createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: text.slice(KEY_PREFIX.length) }, format: 'jwk' })
  } catch (err) {
    throw new KeyFormatError(`not a valid Ed25519 public key: ${(err as Error).message}`)
  }
}

/** PKCS#8 PEM, the form the key file holds. */
export function privateKeyToPem (key: KeyObject): string {
  return key.export({ format: 'pem', type: 'pkcs8' }).toString()
}

export function privateKeyFromPem (pem: string): KeyObject {
  let key: KeyObject
  try {
    key = createPrivateKey({ key: pem, format: 'pem' })
  } catch (err) {
    throw new KeyFormatError(`not a PEM private key: ${(err as Error).message}`)
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new KeyFormatError(`not an Ed25519 key (${String(key.asymmetricKeyType)})`)
  return key
}

/** Signature in unpadded base64url (86 characters). */
export function signBytes (key: KeyObject, bytes: Uint8Array): string {
  return sign(null, bytes, key).toString('base64url')
}

export function verifyBytes (key: KeyObject, bytes: Uint8Array, sig: string): boolean {
  if (!SIG_TEXT.test(sig)) return false
  // 86 characters carry 4 spare bits: only the canonical spelling is a signature (found by fuzzing: a changed last
  // character decoding to the same bytes would otherwise verify as a second spelling of one signature).
  const raw = Buffer.from(sig, 'base64url')
  if (raw.toString('base64url') !== sig) return false
  try {
    return verify(null, bytes, key, raw)
  } catch {
    return false
  }
}
