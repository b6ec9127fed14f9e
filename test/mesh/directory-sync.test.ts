import { afterEach, describe, expect, it } from 'vitest'
import type { PeerId } from '@libp2p/interface'
import { aliveView, TestMesh, waitFor } from './helpers.ts'

let mesh: TestMesh
afterEach(async () => { await mesh?.close() })

const complete = (m: TestMesh): boolean => m.nodes.every(n => n.directory.entries().length === m.nodes.length)
const gaps = (m: TestMesh): string => m.nodes.map(n => `${n.directory.entries().length}`).join(',')

describe('host directory completeness over real libp2p', () => {
  it('20 peers joining through one bootstrap address: every peer knows every host soon after membership is whole', async () => {
    mesh = new TestMesh()
    // Probing at 1 s keeps 20 libp2p nodes in one test process (on a shared 2-core machine) from starving each
    // other into false suspicions; the directory is what is under test, not failure detection.
    const membership = { probeIntervalMs: 1_000, probeTimeoutMs: 500 }
    const first = await mesh.add('h00.cern.ch', { membership })
    const started = Date.now()
    for (let i = 1; i < 20; i++) await mesh.add(`h${String(i).padStart(2, '0')}.cern.ch`, { membership, bootstrap: [first.multiaddrs()[0]] })
    await waitFor('membership whole', () => mesh.nodes.every(n => mesh.nodes.every(o => o === n || n.membership.member(o.peerId) != null)), 20_000)
    const ms = await waitFor(`every directory complete (sizes ${gaps(mesh)})`, () => complete(mesh), 15_000)
    process.stdout.write(`20 peers: every directory complete ${Date.now() - started} ms after the first start (${ms} ms after every member was known)\n`)
    for (const n of mesh.nodes) {
      for (const o of mesh.nodes) expect(n.resolveHost(o.hosts().find(h => h.state === 'self')?.hostNames[0] ?? '?')).toBe(o.peerId)
    }
    // Steady state: directories agree, so a sync is a digest and "same".
    expect(new Set(mesh.nodes.map(n => n.directory.digest())).size).toBe(1)

    // The one bootstrap peer dies (no leave): the others knew the mesh through it, and keep it without it.
    const rest = mesh.nodes.slice(1)
    await first.stop()
    await waitFor('bootstrap dead everywhere', () => rest.every(n => n.membership.member(first.peerId)?.status === 'dead'), 20_000)
    await waitFor('the rest whole', () => rest.every(n => aliveView(n, rest)), 15_000)
    for (const n of rest) expect(n.resolveHost('h19.cern.ch')).toBe(rest[rest.length - 1].peerId)
  }, 60_000)

  it('an announcement this peer can neither fetch from its owner nor get by gossip arrives by directory sync', async () => {
    mesh = new TestMesh()
    // c never connects to b (either way); it hears of b through a only.
    const ids: { b?: string, c?: string } = {}
    const cut = (self: () => string | undefined, other: () => string | undefined) => {
      const deny = (p: PeerId): boolean => self() != null && p.toString() === other()
      return { denyDialPeer: deny, denyInboundEncryptedConnection: deny, denyOutboundEncryptedConnection: deny }
    }
    const a = await mesh.add('a.cern.ch', { directorySyncIntervalMs: 1_000 })
    const b = await mesh.add('b.cern.ch', { bootstrap: [a.multiaddrs()[0]], connectionGater: cut(() => ids.b, () => ids.c) })
    ids.b = b.peerId
    await waitFor('a and b know each other', () => a.directory.get(b.peerId) != null && b.directory.get(a.peerId) != null)
    // Past gossipsub's message cache (3 heartbeats): b's only publication is gone before c exists.
    await new Promise(resolve => setTimeout(resolve, 4_000))
    const c = await mesh.add('c.cern.ch', { bootstrap: [a.multiaddrs()[0]], directorySyncIntervalMs: 1_000, connectionGater: cut(() => ids.c, () => ids.b) })
    ids.c = c.peerId
    await waitFor('c holds b\'s announcement', () => c.directory.get(b.peerId) != null, 20_000)
    expect(c.resolveHost('b.cern.ch')).toBe(b.peerId)
    expect(c.libp2p.getConnections().filter(x => x.remotePeer.toString() === b.peerId)).toEqual([])
    expect(c.directorySync.stats.fetched).toBeGreaterThanOrEqual(1)
    await waitFor('a whole view', () => aliveView(a, mesh.nodes))
  }, 45_000)
})
