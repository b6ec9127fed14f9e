// Many peers deploying scheduled pools at the same moment through the product path (deployScheduled -> two-phase
// deploy -> PoolEnginePartEngine -> HostAdmission): how often hosts refuse, how many deploy attempts a pool needs,
// and, from every host's own accounting, that none is over-committed. Engines below the adapter are null (no
// hypervisor time).
//   in memory (virtual clock):  npx node simulations/scheduler/deploy-contention.ts [--deployers 10] [--pools 10] [--vms 20] [--hosts 20] [--fill 0.98] [--seed 1]
//   real libp2p (TCP loopback): add --real 1 (hosts mesh nodes in this process; deployers are the first hosts)

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PoolEnginePartEngine } from '../../node/deploy/engine-adapter.ts'
import { attachDeploy } from '../../node/deploy/mesh-wiring.ts'
import type { DeployPeer } from '../../node/deploy/peer.ts'
import { createMeshNode } from '../../node/mesh/node.ts'
import type { MeshNode } from '../../node/mesh/node.ts'
import { HostAdmission } from '../../node/scheduler/admission.ts'
import { announceAdmissionLoad } from '../../node/scheduler/announce-load.ts'
import { deployScheduled } from '../../node/scheduler/deploy-scheduled.ts'
import type { ScheduledDeployResult } from '../../node/scheduler/deploy-scheduled.ts'
import { realClock } from '../../node/seams/clock.ts'
import { SF_CLASS } from '../../node/sf/component-classes.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'
import { numArgs } from '../bench/scheduler-args.ts'
import { DeployMesh, NullEngine } from './deploy-mesh.ts'

const a = numArgs({ deployers: 10, pools: 10, vms: 20, hosts: 20, fill: 0.98, seed: 1, real: 0, attempts: 12 })
const VM_MIB = 512
const total = a.deployers * a.pools * a.vms
const capacity = { memoryMiB: Math.ceil(total * VM_MIB / a.hosts / a.fill / VM_MIB) * VM_MIB, vcpus: 1024 }

function pool (tag: string): SfJsonObject {
  const workers: SfJsonObject = { sfClass: SF_CLASS.Schedulee, scheduler: { $ref: 'LAZY ATTRIB sched' } }
  for (let v = 0; v < a.vms; v++) workers[`vm${v}`] = { sfClass: SF_CLASS.XenDomain, memory: VM_MIB, vcpus: 1, hostname: `${tag}-${v}` }
  return { sfClass: SF_CLASS.Compound, sched: { sfClass: SF_CLASS.Scheduler }, workers }
}

function report (mode: string, results: Array<PromiseSettledResult<ScheduledDeployResult>>, admissions: HostAdmission[], ms: string): void {
  const ok = results.filter(r => r.status === 'fulfilled').map(r => (r as PromiseFulfilledResult<ScheduledDeployResult>).value)
  const failed = results.filter(r => r.status === 'rejected') as PromiseRejectedResult[]
  const attempts = ok.reduce((n, r) => n + r.attempts, 0)
  const refusals = ok.reduce((n, r) => n + r.refusals.length, 0)
  let over = 0; let placed = 0; let leftReserved = 0
  const used: number[] = []
  for (const adm of admissions) {
    const acc = adm.accounting()
    if (acc.committed.memoryMiB + acc.reserved.memoryMiB > acc.capacity.memoryMiB || acc.free.memoryMiB < 0) over++
    placed += acc.entries.filter(e => e.state === 'committed').length
    leftReserved += acc.entries.filter(e => e.state === 'reserved').length
    used.push((acc.committed.memoryMiB) / acc.capacity.memoryMiB)
  }
  console.log(`${mode}: ${a.deployers} deployers x ${a.pools} pools x ${a.vms} VMs (${VM_MIB} MiB) at once on ${a.hosts} hosts of ${capacity.memoryMiB} MiB (mesh ${(100 * total * VM_MIB / (capacity.memoryMiB * a.hosts)).toFixed(1)}% full)`)
  console.log(`  pools deployed ${ok.length}/${results.length}; VMs placed (hosts' own accounting) ${placed}/${total}; reservations left pending ${leftReserved}`)
  console.log(`  hosts over-committed: ${over}; host memory use min ${(100 * Math.min(...used)).toFixed(1)}% max ${(100 * Math.max(...used)).toFixed(1)}%`)
  console.log(`  deploy attempts ${attempts} for ${ok.length} pools (${(attempts / Math.max(1, ok.length)).toFixed(2)} per pool); refused prepares ${refusals} (${(100 * refusals / Math.max(1, attempts * a.vms)).toFixed(2)}% of VM placements); max attempts of one pool ${Math.max(0, ...ok.map(r => r.attempts))}`)
  console.log(`  ${ms}`)
  for (const f of failed.slice(0, 3)) console.log(`  FAILED: ${(f.reason as Error).message}`)
}

if (a.real === 0) {
  const mesh = new DeployMesh({ hosts: Array.from({ length: a.hosts }, (_, i) => ({ name: `h${i}`, capacity })), seed: a.seed })
  const t0 = performance.now()
  const jobs: Array<Promise<ScheduledDeployResult>> = []
  for (let d = 0; d < a.deployers; d++) {
    for (let p = 0; p < a.pools; p++) jobs.push(deployScheduled(mesh.hosts[d % a.hosts].peer, `d${d}p${p}`, pool(`d${d}p${p}`), () => mesh.view(), { maxAttempts: a.attempts, seed: a.seed * 1000 + d * 100 + p, clock: mesh.clock }))
  }
  const results = await mesh.settle(jobs)
  report('in-memory deploy path', results, mesh.hosts.map(h => h.admission), `virtual time ${mesh.clock.now().toFixed(1)} ms; wall (CPU of every peer in this process) ${(performance.now() - t0).toFixed(0)} ms`)
  mesh.stop()
} else {
  const base = await mkdtemp(join(tmpdir(), 'sdpeer-contention-'))
  const nodes: MeshNode[] = []
  const admissions: HostAdmission[] = []
  const peers: DeployPeer[] = []
  const stops: Array<() => void> = []
  try {
    const t0 = performance.now()
    for (let h = 0; h < a.hosts; h++) {
      const name = `h${h}`
      const n = await createMeshNode({ host: name, stateDir: join(base, name), driver: 'sim', capacity: { memoryMb: capacity.memoryMiB, vcpus: capacity.vcpus }, ...(nodes.length > 0 ? { bootstrap: [nodes[0].multiaddrs()[0]] } : {}) })
      await n.start()
      nodes.push(n)
      const adm = new HostAdmission({ host: name, capacity, clock: realClock })
      admissions.push(adm)
      stops.push(announceAdmissionLoad(n, adm, realClock))
      peers.push(await attachDeploy(n, { selfHost: name, engine: new PoolEnginePartEngine({ engine: new NullEngine(name), admission: adm }), timings: { requestTimeoutMs: 10_000 } }))
    }
    console.log(`${nodes.length} libp2p nodes started in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    const names = nodes.map((_, h) => `h${h}`)
    // Deployers must resolve and see every host; every peer must see every other alive (claim holders).
    const deployers = nodes.slice(0, Math.min(a.deployers, a.hosts))
    const seesAll = (n: MeshNode): number => n.hosts().filter(v => v.capacity !== undefined && (v.state === 'alive' || v.state === 'self') && names.includes(v.hostNames[0] ?? '')).length
    const ready = (): boolean => deployers.every(n => names.every(h => n.resolveHost(h) !== undefined) && seesAll(n) === nodes.length) &&
      nodes.every(n => n.membership.members().filter(m => m.status === 'alive').length === nodes.length - 1)
    const alive = (): boolean => nodes.every(n => n.membership.members().filter(m => m.status === 'alive').length === nodes.length - 1)
    // A host missing from a deployer's directory is only one candidate fewer for it: wait for it a while, not forever.
    let waited = 0
    while (!ready()) {
      if (alive() && ++waited > 300) break
      if (performance.now() - t0 > 240_000) throw new Error(`mesh did not converge in 240 s: worst node sees ${Math.min(...nodes.map(n => n.membership.members().filter(m => m.status === 'alive').length))}/${nodes.length - 1} alive`)
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    const partial = deployers.map(n => seesAll(n)).filter(x => x < nodes.length)
    if (partial.length > 0) console.log(`  ${partial.length} deployer(s) still miss hosts in their directory (they see ${partial.join(', ')} of ${nodes.length}): deploying anyway`)
    console.log(`${nodes.length} libp2p nodes converged in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
    const s0 = performance.now()
    const jobs: Array<Promise<ScheduledDeployResult>> = []
    for (let d = 0; d < a.deployers; d++) {
      const node = nodes[d % a.hosts]
      for (let p = 0; p < a.pools; p++) jobs.push(deployScheduled(peers[d % a.hosts], `d${d}p${p}`, pool(`d${d}p${p}`), () => node.hosts(), { maxAttempts: a.attempts, seed: a.seed * 1000 + d * 100 + p }))
    }
    const results = await Promise.allSettled(jobs)
    // How stale the deployers' views are: announced load against each host's own accounting, after a while.
    const staleNow = (): string => deployers.map(n => n.hosts().filter(v => {
      const i = names.indexOf(v.hostNames[0] ?? '')
      return i >= 0 && v.load?.memoryMb !== admissions[i].capacity.memoryMiB - admissions[i].free().memoryMiB
    }).length).join(' ')
    for (const wait of [1000, 4000, 10_000]) {
      await new Promise(resolve => setTimeout(resolve, wait))
      console.log(`  hosts whose announced load differs from their own accounting, per deployer's view, after more ${wait} ms: ${staleNow()}`)
    }
    report('real libp2p deploy path', results, admissions, `wall ${(performance.now() - s0).toFixed(0)} ms from the first deploy call to the last answer (all ${a.hosts} peers in this one process)`)
  } finally {
    for (const s of stops) s()
    for (const p of peers) p.stop()
    await Promise.allSettled(nodes.map(async n => { await n.stop() }))
    await rm(base, { recursive: true, force: true })
  }
}
