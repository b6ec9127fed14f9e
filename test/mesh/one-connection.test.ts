import { afterEach, describe, expect, it } from 'vitest'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import type { Libp2p, Stream } from '@libp2p/interface'
import { tcp } from '@libp2p/tcp'
import { createLibp2p } from 'libp2p'
import { DuplicateConnectionPruner } from '../../node/mesh/one-connection.ts'

// Two bare libp2p nodes (no gossipsub, no membership): which streams run where is the test's to decide.
const nodes: Libp2p[] = []
afterEach(async () => { await Promise.all(nodes.splice(0).map(async n => { await n.stop() })) })

async function pair (): Promise<{ lo: Libp2p, hi: Libp2p }> {
  // Each holds an inbound connection for 200 ms before its handshake, so two dials at once always cross.
  const slow = { denyInboundConnection: async () => { await new Promise(resolve => setTimeout(resolve, 200)); return false } }
  for (let i = 0; i < 2; i++) {
    const n = await createLibp2p({ addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] }, transports: [tcp()], connectionEncrypters: [noise()], streamMuxers: [yamux()], connectionGater: slow, connectionMonitor: { enabled: false } })
    await n.handle('/test/hold/1', () => {}, { maxInboundStreams: 8 })
    nodes.push(n)
  }
  const [a, b] = nodes as [Libp2p, Libp2p]
  const [lo, hi] = a.peerId.toString() < b.peerId.toString() ? [a, b] : [b, a]
  await Promise.all([lo.dial(hi.getMultiaddrs()[0]!), hi.dial(lo.getMultiaddrs()[0]!)])
  await expect.poll(() => lo.getConnections(hi.peerId).length + hi.getConnections(lo.peerId).length, { timeout: 3_000 }).toBe(4)
  return { lo, hi }
}

describe('one connection per pair of peers (node/mesh/one-connection.ts)', () => {
  it('the lower peer closes the idle one of two crossed connections; the other still carries streams', async () => {
    const { lo, hi } = await pair()
    const pruner = new DuplicateConnectionPruner({ libp2p: lo, delayMs: 50 })
    await pruner.prune(hi.peerId)
    expect(pruner.pruned).toBe(1)
    await expect.poll(() => hi.getConnections(lo.peerId).length, { timeout: 3_000 }).toBe(1)
    expect(lo.getConnections(hi.peerId)).toHaveLength(1)
    const s = await hi.dialProtocol(lo.peerId, '/test/hold/1')
    await s.close()
  })

  it('leaves a duplicate alone while it carries a stream, and only the lower peer ever closes one', async () => {
    const { lo, hi } = await pair()
    const held: Stream[] = []
    for (const c of lo.getConnections(hi.peerId)) held.push(await c.newStream('/test/hold/1'))
    const higher = new DuplicateConnectionPruner({ libp2p: hi, delayMs: 50 })
    higher.start()
    const lower = new DuplicateConnectionPruner({ libp2p: lo, delayMs: 50, retries: 1 })
    await lower.prune(hi.peerId, 1)
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(lower.pruned + higher.pruned).toBe(0)
    expect(lo.getConnections(hi.peerId)).toHaveLength(2)
    // The stream on the newer connection ends: the retry closes that connection, the older one stays.
    const newest = lo.getConnections(hi.peerId).sort((a, b) => b.timeline.open - a.timeline.open)[0]!
    held.find(s => newest.streams.includes(s))!.abort(new Error('done with it'))
    await expect.poll(() => newest.streams.length, { timeout: 3_000 }).toBe(0)
    await lower.prune(hi.peerId)
    expect(lower.pruned).toBe(1)
    expect(lo.getConnections(hi.peerId).map(c => c.id)).not.toContain(newest.id)
    higher.stop()
  })
})
