import { afterEach, describe, expect, it } from 'vitest'
import { attachDeploy } from '../../node/deploy/mesh-wiring.ts'
import type { DeployPeer } from '../../node/deploy/peer.ts'
import { realClock } from '../../node/seams/clock.ts'
import { FakeEngine } from '../../simulations/deploy/fake-engine.ts'
import { aliveView, TestMesh, waitFor } from '../mesh/helpers.ts'
import { computer, distVirtualPool, pool } from './fixtures.ts'

// The same cores over real libp2p (TCP on 127.0.0.1, noise, yamux): the wire codec, validation and the rpc
// adapter, with fake engines standing in for the hypervisors.

let mesh: TestMesh | undefined
afterEach(async () => { await mesh?.close(); mesh = undefined })

describe('deploy over real libp2p', () => {
  it('deploys distVirtualPool from a third peer, reads status from every peer, refuses a claimed name, terminates', async () => {
    mesh = new TestMesh()
    const entry = await mesh.add('entry.cern.ch')
    const m9 = await mesh.add('machine9.cern.ch', { bootstrap: [entry.multiaddrs()[0]] })
    const m10 = await mesh.add('machine10.cern.ch', { bootstrap: [entry.multiaddrs()[0]] })
    const nodes = [entry, m9, m10]
    await waitFor('all alive', () => nodes.every(n => aliveView(n, nodes)))
    await waitFor('directory', () => nodes.every(n => n.resolveHost('machine9.cern.ch') === m9.peerId && n.resolveHost('machine10.cern.ch') === m10.peerId))
    const engines = nodes.map((n, i) => new FakeEngine({ host: ['entry.cern.ch', 'machine9.cern.ch', 'machine10.cern.ch'][i], clock: realClock, capacity: { memoryMiB: 8192, vcpus: 8 } }))
    const peers: DeployPeer[] = []
    for (const [i, n] of nodes.entries()) peers.push(await attachDeploy(n, { selfHost: engines[i].host, engine: engines[i], timings: { requestTimeoutMs: 5000 } }))

    const t0 = performance.now()
    const res = await peers[0].deploy('dist', distVirtualPool())
    const ms = performance.now() - t0
    expect(res.components.filter(c => c.type === 'XenDomain').map(c => [c.path, c.host])).toEqual([
      ['computer1:domain1', 'machine9.cern.ch'], ['computer1:domain2', 'machine9.cern.ch'], ['computer2:domain2', 'machine10.cern.ch']
    ])
    console.log(`libp2p deploy of distVirtualPool over 3 peers: ${ms.toFixed(0)} ms`)
    for (const p of peers) {
      const st = await p.status('dist')
      expect(st.components).toHaveLength(12)
      expect(st.components.every(c => c.state === 'running')).toBe(true)
    }
    await waitFor('registry replicated', () => peers.every(p => p.ls()[0]?.state === 'running'))
    expect(await peers[1].get('dist', 'computer2:domain2', 'hostname')).toBe('machine10-dom2')

    const clash = pool({ x: computer('machine10.cern.ch', [{ name: 'domainLVM', ip: '10.9.9.9' }]) })
    await expect(peers[2].deploy('other', clash)).rejects.toMatchObject({ name: 'DeployFailedError', message: expect.stringContaining('already used by pool "dist"') })

    await peers[1].terminate('dist')
    expect(engines.flatMap(e => e.live())).toEqual([])
    expect(engines.reduce((n, e) => n + e.reservations, 0)).toBe(0)
    for (const p of peers) p.stop()
  }, 60_000)
})
