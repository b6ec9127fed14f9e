import { afterEach, describe, expect, it } from 'vitest'
import { stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createMeshNode } from '../../node/mesh/node.ts'
import { IDENTITY_FILE } from '../../node/mesh/identity.ts'
import { aliveView, TestMesh, waitFor } from './helpers.ts'

let mesh: TestMesh
afterEach(async () => { await mesh?.close() })

describe('mesh nodes over real libp2p on 127.0.0.1', () => {
  it('four peers join through one bootstrap address, see each other alive and resolve each other by name', async () => {
    mesh = new TestMesh()
    const a = await mesh.add('a.cern.ch', { capacity: { memoryMb: 4096, vcpus: 4 } })
    for (const h of ['b.cern.ch', 'c.cern.ch', 'd.cern.ch']) await mesh.add(h, { bootstrap: [a.multiaddrs()[0]] })
    const all = mesh.nodes
    await waitFor('all alive', () => all.every(n => aliveView(n, all)))
    await waitFor('full directory', () => all.every(n => n.directory.entries().length === 4))
    for (const n of all) {
      expect(n.resolveHost('C.CERN.CH')).toBe(all[2].peerId)
      expect(n.resolveHost('nowhere.cern.ch')).toBeUndefined()
      expect(n.conflicts()).toEqual([])
    }
    const view = all[3].hosts().find(h => h.hostNames[0] === 'a.cern.ch')
    expect(view).toMatchObject({ peerId: a.peerId, state: 'alive', capacity: { memoryMb: 4096, vcpus: 4 }, driver: 'sim' })
  })

  it('the bootstrap peer stops: the others declare it dead and keep each other', async () => {
    mesh = new TestMesh()
    const boot = await mesh.add('boot.cern.ch')
    for (const h of ['p1.cern.ch', 'p2.cern.ch', 'p3.cern.ch']) await mesh.add(h, { bootstrap: [boot.multiaddrs()[0]] })
    const rest = mesh.nodes.slice(1)
    await waitFor('all alive', () => mesh.nodes.every(n => aliveView(n, mesh.nodes)))
    await boot.stop() // no leave: the others must find out by themselves
    const ms = await waitFor('boot dead everywhere', () => rest.every(n => n.membership.member(boot.peerId)?.status === 'dead'), 20_000)
    expect(ms).toBeLessThan(10_000)
    await new Promise(resolve => setTimeout(resolve, 3_000))
    for (const n of rest) expect(aliveView(n, rest)).toBe(true)
  })

  it('keeps its identity key across a restart (same peer id, file mode 0600) and refuses a damaged one', async () => {
    mesh = new TestMesh()
    const dir = await mesh.dir('restart')
    const first = await createMeshNode({ host: 'r.cern.ch', stateDir: dir })
    const second = await createMeshNode({ host: 'r.cern.ch', stateDir: dir })
    expect(second.peerId).toBe(first.peerId)
    expect((await stat(join(dir, IDENTITY_FILE))).mode & 0o777).toBe(0o600)
    await writeFile(join(dir, IDENTITY_FILE), 'not a key')
    await expect(createMeshNode({ host: 'r.cern.ch', stateDir: dir })).rejects.toMatchObject({ name: 'IdentityKeyError' })
  })

  it('a restarted peer (same key) is alive again for the others', async () => {
    mesh = new TestMesh()
    const a = await mesh.add('a.cern.ch')
    const b = await mesh.add('b.cern.ch', { bootstrap: [a.multiaddrs()[0]] })
    await mesh.add('c.cern.ch', { bootstrap: [a.multiaddrs()[0]] })
    await waitFor('all alive', () => mesh.nodes.every(n => aliveView(n, mesh.nodes)))
    await b.stop()
    await waitFor('b dead', () => a.membership.member(b.peerId)?.status === 'dead', 20_000)
    const b2 = await createMeshNode({ host: 'b.cern.ch', stateDir: await mesh.dir('b.cern.ch'), bootstrap: [a.multiaddrs()[0]] })
    await b2.start()
    mesh.nodes.push(b2)
    expect(b2.peerId).toBe(b.peerId)
    await waitFor('b alive again', () => mesh.nodes.filter(n => n !== b).every(n => n === b2 || n.membership.member(b2.peerId)?.status === 'alive'))
    expect(b2.membership.incarnation).toBeGreaterThan(0) // it had to refute its own death
  })

  it('two peers claiming one host name: a conflict reported on both, and the name resolves to nobody', async () => {
    mesh = new TestMesh()
    const a = await mesh.add('dup.cern.ch', { hostNames: ['a-only.cern.ch'], stateDir: await mesh.dir('dup-a') })
    const b = await mesh.add('dup.cern.ch', { bootstrap: [a.multiaddrs()[0]], stateDir: await mesh.dir('dup-b') })
    expect(b.peerId).not.toBe(a.peerId)
    await waitFor('both directories', () => [a, b].every(n => n.directory.entries().length === 2))
    const expected = [{ hostName: 'dup.cern.ch', peers: [a.peerId, b.peerId].sort() }]
    expect(a.conflicts()).toEqual(expected)
    expect(b.conflicts()).toEqual(expected)
    expect(a.resolveHost('dup.cern.ch')).toBeUndefined()
    expect(b.resolveHost('a-only.cern.ch')).toBe(a.peerId)
  })

  it('announces load changes through gossipsub', async () => {
    mesh = new TestMesh()
    const a = await mesh.add('a.cern.ch')
    const b = await mesh.add('b.cern.ch', { bootstrap: [a.multiaddrs()[0]] })
    await waitFor('directories', () => [a, b].every(n => n.directory.entries().length === 2))
    // gossipsub needs a heartbeat to exchange subscriptions on the new connection
    await waitFor('subscribed', () => a.libp2p.services.pubsub.getSubscribers('sdpeer/hosts/1').length > 0)
    await a.updateLoad({ memoryMb: 1024, vcpus: 2, domains: 3 })
    await waitFor('load seen', () => b.directory.get(a.peerId)?.announcement.load.domains === 3, 10_000)
  })
})
