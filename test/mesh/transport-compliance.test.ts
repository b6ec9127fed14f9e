import { afterAll, describe, expect, it } from 'vitest'
import type { MemberRef, MembershipTransport } from '../../node/mesh/membership/types.ts'
import type { MembershipMessage } from '../../protocol/membership.ts'
import { InMemoryNetwork } from '../../simulations/membership/network.ts'
import { VirtualClock } from '../../simulations/membership/virtual-clock.ts'
import { Libp2pMembershipTransport } from '../../node/mesh/libp2p-transport.ts'
import { TestMesh } from './helpers.ts'

// One contract, two implementations: what the membership core may rely on from its transport.

interface Harness {
  a: { ref: MemberRef, t: MembershipTransport }
  b: { ref: MemberRef, t: MembershipTransport }
  /** A member that existed and is gone (killed). */
  gone: MemberRef
  /** Lets time pass: virtual in memory, real over libp2p. */
  settle: (ms: number) => Promise<void>
  close: () => Promise<void>
}

function compliance (name: string, make: () => Promise<Harness>): void {
  describe(`MembershipTransport contract: ${name}`, () => {
    let h: Harness
    afterAll(async () => { await h?.close() })

    it('delivers a message with the sender id', async () => {
      h = await make()
      const got: Array<[string, MembershipMessage]> = []
      h.b.t.onMessage((from, msg) => { got.push([from, msg]) })
      h.a.t.onMessage(() => {})
      const msg: MembershipMessage = { type: 'gossip', updates: [{ status: 'alive', id: 'z', inc: 3 }] }
      h.a.t.send(h.b.ref, msg)
      await h.settle(500)
      expect(got).toEqual([[h.a.ref.id, msg]])
    })

    it('probe: true for a live member, false for a gone one, never synchronously', async () => {
      const results: string[] = []
      h.a.t.probe(h.b.ref, 1_000, ok => { results.push(`b:${ok}`) })
      h.a.t.probe(h.gone, 300, ok => { results.push(`gone:${ok}`) })
      results.push('returned')
      await h.settle(1_500)
      expect(results[0]).toBe('returned')
      expect(results.slice(1).sort()).toEqual(['b:true', 'gone:false'])
    })

    it('send to a gone member neither throws nor delivers', async () => {
      expect(() => { h.a.t.send(h.gone, { type: 'gossip', updates: [] }) }).not.toThrow()
      await h.settle(300)
    })
  })
}

compliance('in-memory network', async () => {
  const clock = new VirtualClock()
  const net = new InMemoryNetwork(clock, { seed: 1 })
  const a = net.attach('a'); const b = net.attach('b'); net.attach('gone')
  net.kill('gone')
  return {
    a: { ref: { id: 'a', addrs: ['a'] }, t: a.transport },
    b: { ref: { id: 'b', addrs: ['b'] }, t: b.transport },
    gone: { id: 'gone', addrs: ['gone'] },
    settle: async (ms) => { clock.advance(ms) },
    close: async () => {}
  }
})

compliance('libp2p over TCP', async () => {
  const mesh = new TestMesh()
  // Bare libp2p nodes (membership started too, but these transports are separate instances on their own).
  const na = await mesh.add('ta.cern.ch'); const nb = await mesh.add('tb.cern.ch'); const ng = await mesh.add('tg.cern.ch')
  const gone = { id: ng.peerId, addrs: ng.multiaddrs() }
  await ng.stop()
  const punish = async (): Promise<void> => {}
  const ta = new Libp2pMembershipTransport({ libp2p: na.libp2p, punish })
  const tb = new Libp2pMembershipTransport({ libp2p: nb.libp2p, punish })
  // The nodes' own membership already holds the protocol: swap in ours for the contract test.
  await na.libp2p.unhandle('/sdpeer/membership/1.0.0'); await nb.libp2p.unhandle('/sdpeer/membership/1.0.0')
  await ta.start(); await tb.start()
  return {
    a: { ref: { id: na.peerId, addrs: na.multiaddrs() }, t: ta },
    b: { ref: { id: nb.peerId, addrs: nb.multiaddrs() }, t: tb },
    gone,
    settle: async (ms) => { await new Promise(resolve => setTimeout(resolve, ms)) },
    close: async () => { await mesh.close() }
  }
})
