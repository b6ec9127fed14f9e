import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { PoolEnginePartEngine } from '../../node/deploy/engine-adapter.ts'
import { attachDeploy } from '../../node/deploy/mesh-wiring.ts'
import type { DeployPeer } from '../../node/deploy/peer.ts'
import { SimDriver } from '../../node/drivers/sim.ts'
import { createEngine } from '../../node/engine/index.ts'
import type { PoolEngine } from '../../node/engine/types.ts'
import type { MeshNode } from '../../node/mesh/node.ts'
import { HostAdmission } from '../../node/scheduler/admission.ts'
import { announceAdmissionLoad } from '../../node/scheduler/announce-load.ts'
import { deployScheduled } from '../../node/scheduler/deploy-scheduled.ts'
import { realClock } from '../../node/seams/clock.ts'
import { checkFile } from '../../node/sf/index.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'
import { fileStorage, removeTempDirs, tempDir } from '../engine/fixtures.ts'
import { aliveView, TestMesh, waitFor } from '../mesh/helpers.ts'

// examples/scheduler/dispatch.sf deployed through the product path on real libp2p (TCP on 127.0.0.1, noise,
// yamux): every host is a mesh node announcing its admission load, with the real engine (sim driver) behind
// PoolEnginePartEngine and a HostAdmission judging each prepare; the deploying peer places from its mesh node's
// hosts() and deploys with deployScheduled.

const DISPATCH = fileURLToPath(new URL('../../examples/scheduler/dispatch.sf', import.meta.url))

interface Host { name: string, node: MeshNode, admission: HostAdmission, engine: PoolEngine, peer: DeployPeer, stop: () => void }

let mesh: TestMesh | undefined
let hosts: Host[] = []
afterEach(async () => {
  for (const h of hosts) { h.stop(); h.peer.stop(); await h.engine.stop() }
  hosts = []
  await mesh?.close(); mesh = undefined
})
afterAll(removeTempDirs)

async function startMesh (specs: Array<{ name: string, memoryMiB: number }>): Promise<Host[]> {
  mesh = new TestMesh()
  const dir = await tempDir('sched-mesh')
  const out: Host[] = []
  for (const s of specs) {
    const capacity = { memoryMiB: s.memoryMiB, vcpus: 8 }
    const node = await mesh.add(s.name, {
      driver: 'sim',
      capacity: { memoryMb: capacity.memoryMiB, vcpus: capacity.vcpus },
      ...(out.length > 0 ? { bootstrap: [out[0].node.multiaddrs()[0]] } : {})
    })
    const engine = createEngine({ host: s.name, stateDir: join(dir, s.name), driver: new SimDriver({ clock: realClock }), storage: fileStorage() })
    await engine.start()
    const admission = new HostAdmission({ host: s.name, capacity, clock: realClock })
    const stop = announceAdmissionLoad(node, admission, realClock, 20)
    const peer = await attachDeploy(node, { selfHost: s.name, engine: new PoolEnginePartEngine({ engine, admission }), timings: { requestTimeoutMs: 5000 } })
    out.push({ name: s.name, node, admission, engine, peer, stop })
  }
  hosts = out
  const nodes = out.map(h => h.node)
  await waitFor('all alive', () => nodes.every(n => aliveView(n, nodes)), 30_000)
  await waitFor('directory', () => nodes.every(n => out.every(h => n.resolveHost(h.name) === h.node.peerId)), 30_000)
  return out
}

function dispatch (): SfJsonObject {
  const r = checkFile(DISPATCH)
  expect(r.diagnostics.filter(d => d.severity === 'error')).toEqual([])
  return r.config as SfJsonObject
}

/** Waits until `node` sees every host's announced load as its admission has it now. */
async function viewSettled (node: MeshNode, of: Host[]): Promise<void> {
  await waitFor('loads announced', () => of.every(h => {
    const v = node.hosts().find(x => x.hostNames[0] === h.name)
    return v?.load?.memoryMb === h.admission.capacity.memoryMiB - h.admission.free().memoryMiB
  }), 15_000)
}

const vmHosts = (components: Array<{ type: string, path: string, host: string }>): Map<string, string> =>
  new Map(components.filter(c => c.type === 'XenDomain').map(c => [c.path, c.host]))

describe('scheduled deploy over real libp2p', () => {
  it('dispatch.sf on 3 hosts: VMs follow free memory, each host admits its own, terminate frees them', async () => {
    const [h1, h2, h3] = await startMesh([{ name: 'host1', memoryMiB: 8192 }, { name: 'host2', memoryMiB: 8192 }, { name: 'host3', memoryMiB: 8192 }])
    // host2 and host3 already run other work (held in their own admission and announced): host1 has most room.
    h2.admission.reserve({ requestId: 'busy2', pool: 'busy', vmId: 'a', memoryMiB: 6144, vcpus: 1, epoch: 1 })
    h3.admission.reserve({ requestId: 'busy3', pool: 'busy', vmId: 'b', memoryMiB: 7936, vcpus: 1, epoch: 1 })
    h2.admission.commit('busy2'); h3.admission.commit('busy3')
    await viewSettled(h1.node, hosts)

    const t0 = performance.now()
    const res = await deployScheduled(h1.peer, 'dispatch', dispatch(), () => h1.node.hosts())
    const ms = performance.now() - t0
    console.log(`scheduled deploy of dispatch.sf over 3 libp2p peers: ${ms.toFixed(0)} ms, ${res.attempts} attempt(s)`)
    expect(res.attempts).toBe(1)
    const where = vmHosts(res.result.components)
    expect(where.size).toBe(4)
    expect([...where.values()]).not.toContain('host3') // 256 MiB free: fits none
    // The 1 GiB VM goes to the emptiest host; host1 (8 GiB free) takes more VMs than host2 (2 GiB free).
    expect(where.get('VMs2Dispatch:unique26')).toBe('host1')
    const count = (h: string): number => [...where.values()].filter(x => x === h).length
    expect(count('host1')).toBeGreaterThan(count('host2'))
    // Every placement was admitted by the host it names, and the engines run those domains.
    for (const h of hosts) {
      const mine = [...where].filter(([, host]) => host === h.name).map(([p]) => p).sort()
      expect(h.admission.entries().filter(e => e.pool === 'dispatch').map(e => e.vmId).sort()).toEqual(mine)
      expect(h.admission.entries().every(e => e.state === 'committed')).toBe(true)
    }
    const st = await h2.peer.status('dispatch')
    expect(st.components.filter(c => c.type === 'XenDomain').every(c => c.state === 'running')).toBe(true)

    await h3.peer.terminate('dispatch')
    for (const h of hosts) expect(h.admission.entries().filter(e => e.pool === 'dispatch')).toEqual([])
  }, 90_000)

  it('on 5 hosts with hosts naming 3, only those 3 are used; a VM no host fits fails naming the constraint', async () => {
    const all = await startMesh(['host1', 'host2', 'host3', 'host4', 'host5'].map(name => ({ name, memoryMiB: name === 'host4' || name === 'host5' ? 16384 : 2048 })))
    const entry = all[3] // host4 deploys: the emptiest host, and not one the Scheduler may use
    await viewSettled(entry.node, all)
    const res = await deployScheduled(entry.peer, 'three', dispatch(), () => entry.node.hosts())
    const used = new Set(vmHosts(res.result.components).values())
    expect(used.size).toBeGreaterThan(1)
    for (const h of used) expect(['host1', 'host2', 'host3']).toContain(h)
    expect(all[3].admission.entries()).toEqual([])
    expect(all[4].admission.entries()).toEqual([])

    const big = dispatch()
    ;((big.VMs2Dispatch as SfJsonObject).unique26 as SfJsonObject).memory = 4096
    await viewSettled(entry.node, all)
    await expect(deployScheduled(entry.peer, 'big', big, () => entry.node.hosts())).rejects.toMatchObject({
      name: 'NoHostFitsError',
      vmId: 'VMs2Dispatch/unique26',
      message: expect.stringMatching(/memory: needs 4096 MiB, best host host[123] has \d+ free \(3 hosts\)/)
    })
    // Nothing was asked of any host for the failed pool.
    expect(all.every(h => h.admission.entries().every(e => e.pool === 'three'))).toBe(true)
  }, 90_000)
})
