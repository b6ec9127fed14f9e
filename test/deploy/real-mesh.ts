import { join } from 'node:path'
import { PoolEnginePartEngine } from '../../node/deploy/engine-adapter.ts'
import { attachDeploy } from '../../node/deploy/mesh-wiring.ts'
import type { AttachOptions } from '../../node/deploy/mesh-wiring.ts'
import type { DeployPeer } from '../../node/deploy/peer.ts'
import { SimDriver } from '../../node/drivers/sim.ts'
import { createEngine } from '../../node/engine/index.ts'
import type { PoolEngine } from '../../node/engine/index.ts'
import type { MeshNode } from '../../node/mesh/node.ts'
import { realClock } from '../../node/seams/clock.ts'
import { fileStorage, tempDir } from '../engine/fixtures.ts'
import { aliveView, TestMesh, waitFor } from '../mesh/helpers.ts'

// Deploy peers over real libp2p (TCP on 127.0.0.1, noise, yamux) with real engines (sim driver, file-backed
// storage), one per host name, the first the others' bootstrap: what the libp2p deploy tests start from.

export class RealDeployMesh {
  readonly mesh = new TestMesh()
  readonly nodes: MeshNode[] = []
  readonly engines: PoolEngine[] = []
  readonly peers: DeployPeer[] = []

  /** Starts one peer per host, waits until all see each other and resolve every host name. `attach`: extra options. */
  static async start (hosts: string[], tag: string, attach: (node: MeshNode) => Partial<AttachOptions> = () => ({})): Promise<RealDeployMesh> {
    const m = new RealDeployMesh()
    const entry = await m.mesh.add(hosts[0]!)
    m.nodes.push(entry)
    for (const h of hosts.slice(1)) m.nodes.push(await m.mesh.add(h, { bootstrap: [entry.multiaddrs()[0]!] }))
    await waitFor('all alive', () => m.nodes.every(n => aliveView(n, m.nodes)))
    await waitFor('directory', () => m.nodes.every(n => hosts.every((h, i) => n.resolveHost(h) === m.nodes[i]!.peerId)))
    for (const [i, n] of m.nodes.entries()) {
      const engine = createEngine({ host: hosts[i]!, stateDir: join(await tempDir(tag), 'state'), driver: new SimDriver({ clock: realClock }), storage: fileStorage([]) })
      await engine.start()
      m.engines.push(engine)
      m.peers.push(await attachDeploy(n, { selfHost: hosts[i]!, engine: new PoolEnginePartEngine({ engine }), timings: { requestTimeoutMs: 3000, attempts: 2 }, ...attach(n) }))
    }
    return m
  }

  async close (): Promise<void> {
    for (const p of this.peers.splice(0)) p.stop()
    for (const e of this.engines.splice(0)) await e.stop()
    await this.mesh.close()
  }
}
