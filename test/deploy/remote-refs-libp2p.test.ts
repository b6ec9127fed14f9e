import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { PoolEnginePartEngine } from '../../node/deploy/engine-adapter.ts'
import { attachDeploy } from '../../node/deploy/mesh-wiring.ts'
import type { DeployPeer } from '../../node/deploy/peer.ts'
import { SimDriver } from '../../node/drivers/sim.ts'
import type { DomainHandle, DomainSpec } from '../../node/drivers/types.ts'
import { createEngine } from '../../node/engine/index.ts'
import type { PoolEngine } from '../../node/engine/index.ts'
import { realClock } from '../../node/seams/clock.ts'
import { bashShell, compound, domain, fileStorage, lazy, removeTempDirs, storage, tempDir } from '../engine/fixtures.ts'
import type { MeshNode } from '../../node/mesh/node.ts'
import { aliveView, TestMesh, waitFor } from '../mesh/helpers.ts'

// Issue 5's cross-peer LAZY references over real libp2p (TCP on 127.0.0.1, noise, yamux) and real engines (sim
// driver, file-backed storage stand-in): a VM on machine9 takes its gateway from a VM on machine10 through the
// mesh, `get` from the third peer follows the same reference, and a disk on another host is refused by name.

class RecordingSim extends SimDriver {
  readonly specs: DomainSpec[] = []
  override async start (spec: DomainSpec, options?: { signal?: AbortSignal }): Promise<DomainHandle> {
    this.specs.push(spec)
    return await super.start(spec, options)
  }
}

const HOSTS = ['entry.cern.ch', 'machine9.cern.ch', 'machine10.cern.ch']

function computer (host: string, dom: Record<string, unknown>) {
  return compound({
    sfProcessHost: host,
    sfSyncTerminate: true,
    myShell: bashShell(),
    loop: storage('Loopback', { domainName: String(dom.domainName) }),
    dom: domain({ storageBackend: lazy('ATTRIB loop'), ...dom } as never)
  })
}

function crossPool (dom1: Record<string, unknown>) {
  return compound({
    sfSyncTerminate: true,
    // Kept on the root part (the entry peer): a value several parts read through the mesh.
    siteGateway: '192.0.2.1',
    console: bashShell(),
    computer1: computer('machine9.cern.ch', { domainName: 'vm1', ip: '192.0.2.10', hostname: 'vm1', ...dom1 }),
    computer2: computer('machine10.cern.ch', { domainName: 'vm2', ip: '192.0.2.20', hostname: 'vm2', gateway: lazy('ATTRIB siteGateway') })
  })
}

let mesh: TestMesh | undefined
const engines: PoolEngine[] = []
afterEach(async () => {
  for (const e of engines.splice(0)) await e.stop()
  await mesh?.close(); mesh = undefined
})
afterAll(removeTempDirs)

async function threePeers (): Promise<{ peers: DeployPeer[], drivers: RecordingSim[], nodes: MeshNode[] }> {
  mesh = new TestMesh()
  const entry = await mesh.add(HOSTS[0])
  const nodes = [entry, await mesh.add(HOSTS[1], { bootstrap: [entry.multiaddrs()[0]] }), await mesh.add(HOSTS[2], { bootstrap: [entry.multiaddrs()[0]] })]
  await waitFor('all alive', () => nodes.every(n => aliveView(n, nodes)))
  await waitFor('directory', () => nodes.every(n => HOSTS.every((h, i) => n.resolveHost(h) === nodes[i].peerId)))
  const peers: DeployPeer[] = []
  const drivers: RecordingSim[] = []
  for (const [i, n] of nodes.entries()) {
    const dir = await tempDir('remote-refs')
    const driver = new RecordingSim({ clock: realClock })
    const engine = createEngine({ host: HOSTS[i], stateDir: join(dir, 'state'), driver, storage: fileStorage([]) })
    await engine.start()
    engines.push(engine)
    drivers.push(driver)
    peers.push(await attachDeploy(n, { selfHost: HOSTS[i], engine: new PoolEnginePartEngine({ engine }), timings: { requestTimeoutMs: 3000, attempts: 2 } }))
  }
  return { peers, drivers, nodes }
}

describe('cross-peer LAZY references over real libp2p', () => {
  it('a VM on machine9 reads its gateway from a VM on machine10 at deploy, and `get` from the third peer follows it', async () => {
    const { peers, drivers } = await threePeers()
    await peers[0].deploy('xref', crossPool({ gateway: lazy('ROOT:computer2:dom:ip'), peerName: lazy('ATTRIB computer2:dom:hostname') }))
    // The VM itself was started with the value that lives on the other host (and computer2's with the root's).
    expect(drivers[1].specs.map(s => [s.name, s.gateway])).toEqual([['vm1', '192.0.2.20']])
    expect(drivers[2].specs.map(s => [s.name, s.gateway])).toEqual([['vm2', '192.0.2.1']])
    // From the entry peer, which holds neither VM: machine9 answers, asking machine10 (and the entry) in turn.
    expect(await peers[0].get('xref', 'computer1:dom', 'gateway')).toBe('192.0.2.20')
    expect(await peers[0].get('xref', 'computer1:dom', 'peerName')).toBe('vm2')
    expect(await peers[1].get('xref', 'computer2:dom', 'gateway')).toBe('192.0.2.1')
    // LAZY is never cached: a runtime change on machine10 is what machine9's next read sees.
    await peers[2].set('xref', 'computer2:dom', 'hostname', 'vm2b')
    expect(await peers[0].get('xref', 'computer1:dom', 'peerName')).toBe('vm2b')
    // All attributes at once: the remote ones resolved, a component reference given by its path.
    expect(await peers[2].get('xref', 'computer1:dom')).toMatchObject({ gateway: '192.0.2.20', peerName: 'vm2b', storageBackend: { $component: 'computer1:loop' } })
    await peers[0].terminate('xref')
    for (const p of peers) p.stop()
  }, 60_000)

  it('names the peer that cannot be asked', async () => {
    const { peers, nodes } = await threePeers()
    await peers[0].deploy('xgone', crossPool({ gateway: lazy('ROOT:computer2:dom:ip') }))
    await nodes[2].stop()
    await expect(peers[0].get('xgone', 'computer1:dom', 'gateway')).rejects.toThrow(/cannot resolve HERE dom:HERE ip there: machine10\.cern\.ch \(12D3\w+\) (unreachable|timeout)/)
    for (const p of peers) p.stop()
  }, 60_000)

  it('refuses at deploy a VM whose storage backend lives on another host, naming the attribute', async () => {
    const { peers, drivers } = await threePeers()
    const bad = crossPool({ storageBackend: lazy('ROOT:computer2:loop') })
    await expect(peers[0].deploy('xdisk', bad)).rejects.toMatchObject({
      name: 'RemoteComponentReferenceError',
      message: expect.stringMatching(/computer1:dom:storageBackend.*computer2:loop.*machine10\.cern\.ch.*machine9\.cern\.ch/)
    })
    expect(drivers.flatMap(d => d.specs)).toEqual([])
    for (const p of peers) p.stop()
  }, 60_000)
})
