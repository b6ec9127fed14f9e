import { createCipheriv, createDecipheriv, createSecretKey } from 'node:crypto'
import type { KeyObject } from 'node:crypto'
import type { ICryptoInterface } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { Uint8ArrayList } from 'uint8arraylist'

// Noise's transport cipher (ChaCha20-Poly1305) on node's native crypto, as noise's own default already does for
// messages of 1,200 bytes and more, minus two costs a bulk stream pays on every 64 KiB message
// (simulations/bench/image-transfer.ts, profiles of both daemons):
// - node turns a raw key into a KeyObject inside every createCipheriv/createDecipheriv (getKeyObjectSlots + getSlots:
//   9–14% of each side's thread); a session's key never changes, so its KeyObject is made once;
// - the default encrypt copies ciphertext and tag into one new buffer; here they go out as a list (the socket
//   gathers them), one 64 KiB allocation and copy less per message (sender CPU -10% on a raw stream).
// Handshake, hashing, DH and small messages stay noise's defaults. Same algorithm, same bytes on the wire: a peer on
// the default crypto talks to this one (test/mesh/noise-crypto.test.ts).

/** Noise carries its own copy of uint8arraylist (2.x); lists of both versions share one brand and mix at run time. */
type NoiseList = Exclude<ReturnType<ICryptoInterface['chaCha20Poly1305Decrypt']>, Uint8Array>
const newList = (...bufs: Uint8Array[]): NoiseList => new Uint8ArrayList(...bufs) as unknown as NoiseList

const CHACHA = 'chacha20-poly1305'
const TAG = 16
/** Below this noise's default uses its wasm cipher, faster than node's set-up cost for a small message. */
const NATIVE_FROM = 1200

interface CachedKey { bytes: Buffer, key: KeyObject }
/** By the key buffer of a session's cipher state: gone with the session. */
const cache = new WeakMap<Uint8Array, CachedKey>()

/**
 * The KeyObject for `k`, made once per key buffer. Keyed by the buffer noise keeps in its cipher state; its bytes
 * are compared as well, so a buffer reused for another key never gets the old one.
 */
function keyObject (k: Uint8Array): KeyObject {
  const hit = cache.get(k)
  if (hit !== undefined && hit.bytes.equals(k)) return hit.key
  const bytes = Buffer.from(k)
  const key = createSecretKey(bytes)
  cache.set(k, { bytes, key })
  return key
}

function encrypt (plaintext: Uint8Array | NoiseList, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array): Uint8Array | NoiseList {
  if (plaintext.byteLength < NATIVE_FROM) return defaultCrypto.chaCha20Poly1305Encrypt(plaintext, nonce, ad, k)
  const cipher = createCipheriv(CHACHA, keyObject(k), nonce, { authTagLength: TAG })
  cipher.setAAD(ad, { plaintextLength: plaintext.byteLength })
  const parts: Buffer[] = []
  if (plaintext instanceof Uint8Array) parts.push(cipher.update(plaintext))
  else for (const part of plaintext) parts.push(cipher.update(part))
  parts.push(cipher.final(), cipher.getAuthTag())
  return newList(...parts.filter(p => p.byteLength > 0))
}

function decrypt (ciphertext: Uint8Array | NoiseList, nonce: Uint8Array, ad: Uint8Array, k: Uint8Array, dst?: Uint8Array): Uint8Array | NoiseList {
  if (ciphertext.byteLength < NATIVE_FROM) return defaultCrypto.chaCha20Poly1305Decrypt(ciphertext, nonce, ad, k, dst)
  const textLength = ciphertext.byteLength - TAG
  const decipher = createDecipheriv(CHACHA, keyObject(k), nonce, { authTagLength: TAG })
  decipher.setAAD(ad, { plaintextLength: textLength })
  decipher.setAuthTag(ciphertext.subarray(textLength))
  // `dst` (where the wasm cipher writes in place) is not used: node's cipher allocates its output anyway.
  if (ciphertext instanceof Uint8Array) {
    const output = decipher.update(ciphertext.subarray(0, textLength))
    const final = decipher.final()
    return final.byteLength > 0 ? newList(output, final) : output
  }
  const output = newList()
  for (const part of ciphertext.sublist(0, textLength)) output.append(decipher.update(part))
  const final = decipher.final()
  if (final.byteLength > 0) output.append(final)
  return output
}

export const nativeNoiseCrypto: ICryptoInterface = {
  ...defaultCrypto,
  chaCha20Poly1305Encrypt: encrypt,
  chaCha20Poly1305Decrypt: decrypt
}
