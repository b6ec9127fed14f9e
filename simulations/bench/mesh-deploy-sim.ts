// Deploy of 100 VMs across 20 simulated hosts from one peer (a 21st): the time until every owner reports its
// components running, hypervisor time excluded (the fake engines start domains in zero virtual time), over the
// in-memory twin of the mesh with loopback-like latency. The figure has two parts, printed apart:
//  - network time: the virtual clock at the end (round trips of split -> prepare+claims -> commit -> registry);
//  - CPU time: what the protocol cores themselves cost in this process (all 21 peers run here, so this is a
//    pessimistic bound: on a real mesh each peer's share runs on its own host in parallel).
// Goal: under 2 s. Also prints messages per type and the status round from the entry peer afterwards.
// With --real 1 it runs the same deploy over real libp2p instead (hosts+1 mesh nodes in this one process, TCP on
// 127.0.0.1, noise, yamux, the deploy wire codec): wall time from the call until every owner reported running.
//   npx node simulations/bench/mesh-deploy-sim.ts [--hosts 20] [--vms 100] [--runs 5] [--seed 1] [--oneway 0.25] [--jitter 0.5] [--loss 0] [--real 0]

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { attachDeploy } from '../../node/deploy/mesh-wiring.ts'
import { createMeshNode } from '../../node/mesh/node.ts'
import type { MeshNode } from '../../node/mesh/node.ts'
import { realClock } from '../../node/seams/clock.ts'
import { DeployCluster } from '../deploy/cluster.ts'
import { FakeEngine } from '../deploy/fake-engine.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'
import { numArgs } from './scheduler-args.ts'

const a = numArgs({ hosts: 20, vms: 100, runs: 5, seed: 1, oneway: 0.25, jitter: 0.5, loss: 0, real: 0 })

function poolOf (hosts: number, vms: number): SfJsonObject {
  const root: SfJsonObject = { sfClass: 'org.smartfrog.sfcore.compound.CompoundImpl', sfSyncTerminate: true }
  for (let h = 0; h < hosts; h++) {
    const cd: SfJsonObject = { sfClass: 'org.smartfrog.sfcore.compound.CompoundImpl', sfSyncTerminate: true, sfProcessHost: `host${h}.sim` }
    for (let v = h; v < vms; v += hosts) {
      cd[`disk${v}`] = { sfClass: 'ch.cern.openlab.smartdomains.LVMStorageBackendImpl', domainName: `vm${v}` }
      cd[`vm${v}`] = { sfClass: 'ch.cern.openlab.smartdomains.XenDomainImpl', domainName: `vm${v}`, ip: `10.${v >> 16 & 255}.${v >> 8 & 255}.${v & 255}`, memory: 512, vcpus: 1 }
    }
    root[`computer${h}`] = cd
  }
  return root
}

const pct = (xs: number[], p: number): number => [...xs].sort((x, y) => x - y)[Math.min(xs.length - 1, Math.floor(p * xs.length))]

const config = poolOf(a.hosts, a.vms)
if (a.real !== 0) { await real(); process.exit(0) }
const nets: number[] = []; const cpus: number[] = []; const totals: number[] = []; const statusMs: number[] = []
let msgs: Map<string, number> | undefined
for (let run = 0; run < a.runs; run++) {
  const hosts = [{ name: 'entry.sim' }, ...Array.from({ length: a.hosts }, (_, h) => ({ name: `host${h}.sim`, capacity: { memoryMiB: 65536, vcpus: 64 } }))]
  const c = new DeployCluster({ hosts, seed: a.seed + run, minDelayMs: a.oneway, jitterMs: a.jitter, loss: a.loss, timings: { requestTimeoutMs: 50, attempts: 8 } })
  const cpu0 = process.cpuUsage()
  const t0 = c.clock.now()
  const res = await c.settle(c.get('entry.sim').peer.deploy('bench', config))
  const cpu = process.cpuUsage(cpu0)
  const vmsRunning = res.components.filter(x => x.type === 'XenDomain' && x.state === 'running').length
  if (vmsRunning !== a.vms) throw new Error(`only ${vmsRunning} of ${a.vms} VMs running`)
  const net = res.elapsedMs
  const cpuMs = (cpu.user + cpu.system) / 1000
  nets.push(net); cpus.push(cpuMs); totals.push(net + cpuMs)
  const s0 = c.clock.now()
  const st = await c.settle(c.get('entry.sim').peer.status('bench'))
  if (st.components.filter(x => x.state === 'running').length !== res.components.length) throw new Error('status disagrees')
  statusMs.push(c.clock.now() - s0)
  void t0
  msgs ??= new Map(c.net.sent)
}
const f = (x: number): string => x.toFixed(1)
console.log(`deploy of ${a.vms} sim VMs across ${a.hosts} hosts from one more peer; one-way latency ${a.oneway}+U(0,${a.jitter}) ms, loss ${a.loss}; ${a.runs} runs`)
console.log(`  network time until all running : p50 ${f(pct(nets, 0.5))} ms, max ${f(Math.max(...nets))} ms (virtual clock)`)
console.log(`  CPU of all 21 peers' cores      : p50 ${f(pct(cpus, 0.5))} ms, max ${f(Math.max(...cpus))} ms (this process; first run includes JIT warm-up)`)
console.log(`  sum (pessimistic)               : p50 ${f(pct(totals, 0.5))} ms, max ${f(Math.max(...totals))} ms; goal < 2000 ms: ${Math.max(...totals) < 2000 ? 'met' : 'MISSED'}`)
console.log(`  status from the entry peer      : p50 ${f(pct(statusMs, 0.5))} ms network`)
console.log(`  requests of one deploy          : ${[...(msgs ?? [])].map(([k, v]) => `${k} ${v}`).join(', ')}`)

async function real (): Promise<void> {
  const base = await mkdtemp(join(tmpdir(), 'sdpeer-deploy-bench-'))
  const nodes: MeshNode[] = []
  try {
    const names = ['entry.sim', ...Array.from({ length: a.hosts }, (_, h) => `host${h}.sim`)]
    const t0 = performance.now()
    for (const name of names) {
      const n = await createMeshNode({ host: name, stateDir: join(base, name), ...(nodes.length > 0 ? { bootstrap: [nodes[0].multiaddrs()[0]] } : {}) })
      await n.start()
      nodes.push(n)
    }
    // Only the entry peer resolves host names (it splits); every peer must see every other alive (claim holders).
    const ready = (): boolean => names.every(h => nodes[0].resolveHost(h) !== undefined) && nodes.every(n => n.membership.members().filter(m => m.status === 'alive').length === nodes.length - 1)
    while (!ready()) {
      if (performance.now() - t0 > 120_000) {
        const resolved = Math.min(...nodes.map(n => names.filter(h => n.resolveHost(h) !== undefined).length))
        const alive = Math.min(...nodes.map(n => n.membership.members().filter(m => m.status === 'alive').length))
        throw new Error(`mesh did not converge in 120 s: worst node resolves ${resolved}/${names.length} hosts, sees ${alive}/${nodes.length - 1} alive`)
      }
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    const partial = nodes.filter(n => names.some(h => n.resolveHost(h) === undefined)).length
    console.log(`${nodes.length} libp2p nodes up and converged in ${((performance.now() - t0) / 1000).toFixed(1)} s (${partial} nodes' host directories still incomplete)`)
    const engines = names.map(h => new FakeEngine({ host: h, clock: realClock, capacity: { memoryMiB: 65536, vcpus: 64 } }))
    // Requests slower than 500 ms, by type and outcome: where the wall time goes when it is not CPU.
    const slow = new Map<string, number>()
    for (const n of nodes) {
      const request = n.rpc.request.bind(n.rpc)
      n.rpc.request = (async (peer: string, spec: never, req: { type?: string }, o: never) => {
        const t = performance.now()
        try { return await request(peer, spec, req, o) } catch (e) { const k = `${req.type} ${(e as { code?: string }).code ?? 'error'}`; slow.set(k, (slow.get(k) ?? 0) + 1); throw e } finally {
          if (performance.now() - t > 500) { const k = `${req.type} >500ms`; slow.set(k, (slow.get(k) ?? 0) + 1) }
        }
      }) as typeof n.rpc.request
    }
    const peers = await Promise.all(nodes.map(async (n, i) => await attachDeploy(n, { selfHost: names[i], engine: engines[i] })))
    const walls: number[] = []
    for (let run = 0; run < a.runs; run++) {
      const pool = `bench${run}`
      const cpu0 = process.cpuUsage()
      const s0 = performance.now()
      const res = await peers[0].deploy(pool, config)
      const wall = performance.now() - s0
      const cpu = process.cpuUsage(cpu0)
      const vms = res.components.filter(x => x.type === 'XenDomain' && x.state === 'running').length
      if (vms !== a.vms) throw new Error(`only ${vms} VMs running`)
      const st0 = performance.now()
      const st = await peers[0].status(pool)
      const statusMs = performance.now() - st0
      if (st.components.some(x => x.state !== 'running')) throw new Error('status disagrees')
      walls.push(wall)
      console.log(`  run ${run + 1}: ${wall.toFixed(0)} ms until all ${vms} VMs running (CPU of all ${nodes.length} nodes in this process ${((cpu.user + cpu.system) / 1000).toFixed(0)} ms); status round ${statusMs.toFixed(0)} ms`)
      if (slow.size > 0) console.log(`    slow or failed requests: ${[...slow].map(([k, v]) => `${k}: ${v}`).join(', ')}`)
      slow.clear()
      await peers[0].terminate(pool)
    }
    console.log(`real libp2p, ${a.vms} VMs on ${a.hosts} hosts from one more peer: p50 ${pct(walls, 0.5).toFixed(0)} ms, max ${Math.max(...walls).toFixed(0)} ms; goal < 2000 ms: ${Math.max(...walls) < 2000 ? 'met' : 'MISSED'}`)
    for (const p of peers) p.stop()
  } finally {
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    await rm(base, { recursive: true, force: true })
  }
}
