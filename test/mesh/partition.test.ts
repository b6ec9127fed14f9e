import { afterEach, describe, expect, it } from 'vitest'
import type { PeerId } from '@libp2p/interface'
import { aliveView, TestMesh, waitFor } from './helpers.ts'

let mesh: TestMesh
afterEach(async () => { await mesh?.close() })

describe('partition of real libp2p peers', () => {
  it.each([
    ['while dead members still receive gossip', {}],
    // Dead members get gossip for gossipToTheDeadMs only; past it, only the reconnect loop (one dead member every
    // reconnectIntervalMs) brings the halves back: shrunk here so the test need not wait out the defaults.
    ['through the reconnect loop alone, once gossip to the dead has stopped', { gossipToTheDeadMs: 200, reconnectIntervalMs: 1_500 }]
  ])('split halves declare each other dead, then find each other again without help once the link is back (%s)', async (_what, membership) => {
    mesh = new TestMesh()
    // One shared switch: while `cut`, a peer refuses connections to and from the other half.
    const half = new Map<string, number>()
    let cut = false
    const blocked = (self: () => string, other: PeerId): boolean => cut && half.get(self()) !== half.get(other.toString())
    const gater = (self: () => string) => ({
      denyDialPeer: (p: PeerId) => blocked(self, p),
      denyInboundEncryptedConnection: (p: PeerId) => blocked(self, p),
      denyOutboundEncryptedConnection: (p: PeerId) => blocked(self, p)
    })
    const ids: string[] = []
    for (let i = 0; i < 4; i++) {
      const me = (): string => ids[i]
      const node = await mesh.add(`h${i}.cern.ch`, { membership, connectionGater: gater(me), ...(i > 0 ? { bootstrap: [mesh.nodes[0].multiaddrs()[0]] } : {}) })
      ids.push(node.peerId)
      half.set(node.peerId, i < 2 ? 0 : 1)
    }
    const [a, b, c, d] = mesh.nodes
    await waitFor('all alive', () => mesh.nodes.every(n => aliveView(n, mesh.nodes)))

    cut = true
    for (const n of mesh.nodes) {
      for (const conn of n.libp2p.getConnections()) if (half.get(conn.remotePeer.toString()) !== half.get(n.peerId)) conn.abort(new Error('link cut'))
    }
    await waitFor('halves dead to each other', () =>
      [a, b].every(n => [c, d].every(o => n.membership.member(o.peerId)?.status === 'dead')) &&
      [c, d].every(n => [a, b].every(o => n.membership.member(o.peerId)?.status === 'dead')), 30_000)
    // Each half stays whole on its own (waited for, not sampled: under load a peer may be briefly suspect).
    await waitFor('each half whole', () => aliveView(a, [a, b]) && aliveView(b, [a, b]) && aliveView(c, [c, d]) && aliveView(d, [c, d]), 15_000)
    expect([a, b].every(n => [c, d].every(o => n.membership.member(o.peerId)?.status === 'dead'))).toBe(true)

    if ('gossipToTheDeadMs' in membership) await new Promise(resolve => setTimeout(resolve, 1_000)) // past it
    cut = false
    const ms = await waitFor('re-merged', () => mesh.nodes.every(n => aliveView(n, mesh.nodes)), 40_000)
    process.stdout.write(`partition healed: mesh whole again ${ms} ms after the link came back\n`)
    // The directory comes back too: every peer resolves every host (a dead member's entry may have been dropped and
    // is learnt again by directory sync, which under load can lag the membership by a round), and all agree.
    await waitFor('every peer resolves every host', () => mesh.nodes.every(n => ids.every((id, i) => n.resolveHost(`h${i}.cern.ch`) === id)), 15_000)
    await waitFor('directories agree', () => new Set(mesh.nodes.map(n => n.directory.digest())).size === 1, 15_000)
  }, 90_000)
})
