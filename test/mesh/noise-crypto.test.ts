import { createHash, randomBytes } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { defaultCrypto } from '@chainsafe/libp2p-noise/crypto'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Libp2p } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { Uint8ArrayList } from 'uint8arraylist'
import { afterEach, describe, expect, it } from 'vitest'
import { nativeNoiseCrypto } from '../../node/mesh/noise-crypto.ts'

// The mesh's noise cipher (node/mesh/noise-crypto.ts) against noise's own default: the same bytes both ways, a
// forged tag refused, a reused key buffer never served a stale key, and a real libp2p connection between a node on
// each.

const ours = nativeNoiseCrypto
const theirs = defaultCrypto
const bytes = (x: Uint8Array | { subarray: () => Uint8Array }): Buffer => Buffer.from(x instanceof Uint8Array ? x : x.subarray())
const split = (b: Uint8Array, at: number): Uint8ArrayList => new Uint8ArrayList(b.subarray(0, at), b.subarray(at))
type List = Parameters<typeof ours.chaCha20Poly1305Encrypt>[0]

describe('nativeNoiseCrypto', () => {
  it('encrypts and decrypts exactly as noise\'s default does, for whole buffers and lists, small and 64 KiB', () => {
    const k = randomBytes(32)
    const ad = randomBytes(32)
    for (const size of [0, 100, 1199, 1200, 5000, 65519]) {
      const nonce = randomBytes(12)
      const plain = randomBytes(size)
      const mine = bytes(ours.chaCha20Poly1305Encrypt(plain, nonce, ad, k))
      expect(mine.equals(bytes(theirs.chaCha20Poly1305Encrypt(plain, nonce, ad, k)))).toBe(true)
      const listed = ours.chaCha20Poly1305Encrypt(split(plain, size >> 1) as unknown as List, nonce, ad, k)
      expect(bytes(listed).equals(mine)).toBe(true)
      expect(bytes(ours.chaCha20Poly1305Decrypt(mine, nonce, ad, k)).equals(plain)).toBe(true)
      expect(bytes(ours.chaCha20Poly1305Decrypt(split(mine, size >> 1) as unknown as List, nonce, ad, k)).equals(plain)).toBe(true)
    }
  })

  it('refuses a message whose tag or text was changed', () => {
    const k = randomBytes(32)
    const nonce = randomBytes(12)
    const sealed = bytes(ours.chaCha20Poly1305Encrypt(randomBytes(65519), nonce, new Uint8Array(0), k))
    for (const at of [10, sealed.byteLength - 1]) {
      const bad = Buffer.from(sealed)
      bad[at] ^= 1
      expect(() => ours.chaCha20Poly1305Decrypt(bad, nonce, new Uint8Array(0), k)).toThrow()
    }
  })

  it('a key buffer overwritten with another key encrypts with the new key, not a cached one', () => {
    const k = randomBytes(32)
    const nonce = randomBytes(12)
    const plain = randomBytes(4096)
    ours.chaCha20Poly1305Encrypt(plain, nonce, new Uint8Array(0), k)
    randomBytes(32).copy(k)
    const mine = bytes(ours.chaCha20Poly1305Encrypt(plain, nonce, new Uint8Array(0), k))
    expect(mine.equals(bytes(theirs.chaCha20Poly1305Encrypt(plain, nonce, new Uint8Array(0), k)))).toBe(true)
  })
})

describe('libp2p over TCP with nativeNoiseCrypto on one side and noise\'s default on the other', () => {
  const nodes: Libp2p[] = []
  afterEach(async () => { for (const n of nodes.splice(0)) await n.stop() })

  it('carries 8 MiB both ways intact', async () => {
    const make = async (crypto?: typeof nativeNoiseCrypto): Promise<Libp2p> => {
      const n = await createLibp2p({
        addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
        transports: [tcp()],
        connectionEncrypters: [crypto !== undefined ? noise({ crypto }) : noise()],
        streamMuxers: [yamux()],
        connectionMonitor: { enabled: false }
      })
      nodes.push(n)
      return n
    }
    const a = await make(nativeNoiseCrypto)
    const b = await make()
    const payload = randomBytes(8 * 1024 * 1024)
    const digest = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
    // Each side answers a stream with the sha256 of what it received; each side sends the payload to the other.
    for (const n of [a, b]) {
      await n.handle('/test/sink/1', async (stream) => {
        const h = createHash('sha256')
        for await (const c of stream) h.update(c.subarray())
        stream.send(Buffer.from(h.digest('hex')))
        await stream.close()
      })
    }
    for (const [from, to] of [[a, b], [b, a]]) {
      const stream = await from.dialProtocol(to.getMultiaddrs()[0], '/test/sink/1')
      for (let off = 0; off < payload.byteLength; off += 256 * 1024) {
        if (!stream.send(payload.subarray(off, off + 256 * 1024))) await stream.onDrain()
      }
      await stream.close()
      const answer = new Uint8ArrayList()
      for await (const c of stream) answer.append(c)
      expect(Buffer.from(answer.subarray()).toString()).toBe(digest(payload))
    }
  }, 20_000)
})
