// Many peers deploying scheduled pools at the same moment through the product path (deployScheduled -> two-phase
// deploy -> PoolEnginePartEngine -> HostAdmission), in memory on a virtual clock: how often hosts refuse, how many
// deploy attempts a pool needs, and, from every host's own accounting, that none is over-committed. Engines below
// the adapter are null (no hypervisor time). The same over real libp2p: simulations/scheduler/deploy-mesh.ts.
//   npx node simulations/scheduler/deploy-contention.ts [--deployers 10] [--pools 10] [--vms 20] [--hosts 20] [--fill 0.98] [--seed 1]

import type { HostAdmission } from '../../node/scheduler/admission.ts'
import { deployScheduled } from '../../node/scheduler/deploy-scheduled.ts'
import type { ScheduledDeployResult } from '../../node/scheduler/deploy-scheduled.ts'
import { numArgs } from '../bench/scheduler-args.ts'
import { contentionCapacity, contentionPool } from './contention.ts'
import { DeployMesh } from './memory-mesh.ts'

const a = numArgs({ deployers: 10, pools: 10, vms: 20, hosts: 20, fill: 0.98, seed: 1, attempts: 12 })
const VM_MIB = 512
const total = a.deployers * a.pools * a.vms
const capacity = contentionCapacity(total, VM_MIB, a.hosts, a.fill)
const pool = (tag: string): ReturnType<typeof contentionPool> => contentionPool(tag, a.vms, VM_MIB)

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

const mesh = new DeployMesh({ hosts: Array.from({ length: a.hosts }, (_, i) => ({ name: `h${i}`, capacity })), seed: a.seed })
const t0 = performance.now()
const jobs: Array<Promise<ScheduledDeployResult>> = []
for (let d = 0; d < a.deployers; d++) {
  for (let p = 0; p < a.pools; p++) jobs.push(deployScheduled(mesh.hosts[d % a.hosts].peer, `d${d}p${p}`, pool(`d${d}p${p}`), () => mesh.view(), { maxAttempts: a.attempts, seed: a.seed * 1000 + d * 100 + p, clock: mesh.clock }))
}
const results = await mesh.settle(jobs)
report('in-memory deploy path', results, mesh.hosts.map(h => h.admission), `virtual time ${mesh.clock.now().toFixed(1)} ms; wall (CPU of every peer in this process) ${(performance.now() - t0).toFixed(0)} ms`)
mesh.stop()
