import { createHash } from 'node:crypto'
import type { Stream, StreamHandler } from '@libp2p/interface'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { defaultLogger } from '@libp2p/logger'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { multiaddrConnectionPair } from '@libp2p/utils'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { describe, expect, it } from 'vitest'
import { nativeNoiseCrypto } from '../../node/mesh/noise-crypto.ts'
import { handleChunkStreams, requestChunks } from '../../node/images/chunk-stream.ts'
import type { StreamHost } from '../../node/images/chunk-stream.ts'

// The case loopback TCP rarely produces: the network below noise is slow (libp2p's own in-memory connection pair with
// a delay and a small send queue), so noise waits for 'drain' holding frames unencrypted, while the receiver keeps
// reading and sending yamux window updates. Real noise (with the mesh's cipher) and real yamux on top. Several
// streams share the connection and a pool of 2 buffers; every chunk is checked by hash. A release that looked only
// at the stream's own write buffer (not at writableNeedsDrain) gives buffers back while noise still holds them.

const MiB = 1024 * 1024
const sha = (parts: Iterable<Uint8Array>): string => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest('hex')
}
const content = (index: number): Buffer => {
  const b = Buffer.alloc(MiB)
  for (let i = 0; i < MiB; i += 4096) b.writeUInt32BE(index * 1_000_003 + i, i)
  return b
}

async function securePair (): Promise<{ server: StreamHost & { peer: string }, client: StreamHost }> {
  const logger = defaultLogger()
  const [ka, kb] = await Promise.all([generateKeyPair('Ed25519'), generateKeyPair('Ed25519')])
  const [outbound, inbound] = multiaddrConnectionPair({ delay: 1, capacity: 3 })
  const [c, s] = await Promise.all([
    noise({ crypto: nativeNoiseCrypto })({ privateKey: ka, logger } as never).secureOutbound(outbound, { remotePeer: peerIdFromPrivateKey(kb), skipStreamMuxerNegotiation: true }),
    noise({ crypto: nativeNoiseCrypto })({ privateKey: kb, logger } as never).secureInbound(inbound, { skipStreamMuxerNegotiation: true })
  ])
  const clientMuxer = yamux()().createStreamMuxer(c.connection as never)
  const serverMuxer = yamux()().createStreamMuxer(s.connection as never)
  let handler: StreamHandler | undefined
  serverMuxer.addEventListener('stream', (evt) => { void handler?.(evt.detail as Stream, { remotePeer: peerIdFromPrivateKey(ka) } as never) })
  const server = {
    peer: peerIdFromPrivateKey(kb).toString(),
    handle: async (_p: string, h: StreamHandler) => { handler = h },
    unhandle: async () => {},
    dialProtocol: async () => { throw new Error('server does not dial') }
  }
  const client = {
    handle: async () => {},
    unhandle: async () => {},
    dialProtocol: async () => await clientMuxer.createStream() as Stream
  }
  return { server, client }
}

describe('pooled chunk buffers under network backpressure (noise holding frames)', () => {
  it('a buffer released is garbled at once, and still every chunk of 8 overlapping streams arrives intact', async () => {
    const { server, client } = await securePair()
    let released = 0
    // Sharper than a pool: whatever the stack still referred to at release would reach the receiver garbled.
    await handleChunkStreams(server, async (_id, index) => content(index), { release: b => { b.fill(0xee); released++ } })
    let bad = 0
    let good = 0
    await Promise.all([0, 1, 2, 3, 4, 5, 6, 7].map(async s => {
      await new Promise(resolve => setTimeout(resolve, s * 15))
      const indices = [0, 1, 2].map(k => s * 3 + k)
      await requestChunks(client, server.peer, { id: '0'.repeat(64), indices }, async (index, bytes) => {
        if (sha(bytes) === sha([content(index)])) good++
        else bad++
      })
    }))
    expect({ good, bad }).toEqual({ good: 24, bad: 0 })
    // The server releases the last buffers once it sees them encrypted, after the receiver has them.
    const until = Date.now() + 5_000
    while (released < 24 && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 10))
    expect(released).toBe(24)
  })
})
