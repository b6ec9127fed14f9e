import { describe, expect, it } from 'vitest'
import { createLibp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { Rpc } from '../../node/mesh/rpc.ts'
import type { RpcProtocolSpec } from '../../node/mesh/rpc.ts'

// A request object sent to several peers is encoded once (node/mesh/rpc.ts): a pool record goes to every member.
// Over real libp2p: three servers, one request object, each server gets the same body; a second object is encoded
// again.

describe('Rpc request encoding', () => {
  it('encodes one request object once for all the peers it goes to, and each new object again', async () => {
    let encodes = 0
    const spec: RpcProtocolSpec<{ n: number }, { got: number }> = {
      id: '/sdpeer/test-encode-once/1.0.0',
      request: { maxBytes: 1024, encode: r => { encodes++; return new TextEncoder().encode(JSON.stringify(r)) }, decode: b => JSON.parse(new TextDecoder().decode(b)) as { n: number } },
      response: { maxBytes: 1024, encode: r => new TextEncoder().encode(JSON.stringify(r)), decode: b => JSON.parse(new TextDecoder().decode(b)) as { got: number } }
    }
    const make = async () => await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()] })
    const nodes = await Promise.all([make(), make(), make(), make()])
    try {
      const [client, ...servers] = nodes
      for (const s of servers) await new Rpc({ host: s! }).handle(spec, async req => ({ got: req.n }))
      for (const s of servers) await client!.peerStore.merge(s!.peerId, { multiaddrs: s!.getMultiaddrs() })
      const rpc = new Rpc({ host: client! })
      const req = { n: 7 }
      const answers = await Promise.all(servers.map(async s => await rpc.request(s!.peerId.toString(), spec, req)))
      expect(answers).toEqual([{ got: 7 }, { got: 7 }, { got: 7 }])
      expect(encodes).toBe(1)
      expect(await rpc.request(servers[0]!.peerId, spec, { n: 8 })).toEqual({ got: 8 })
      expect(encodes).toBe(2)
    } finally {
      await Promise.all(nodes.map(async n => { await n.stop() }))
    }
  })
})
