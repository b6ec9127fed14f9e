// Issue 6's contention goal over real libp2p (TCP loopback): ten peers deploying 10 pools of 20 scheduled VMs each
// at the same moment onto 20 hosts. Prints pools placed, VMs placed and over-commits from every host's own
// HostAdmission accounting (right after the deploys and again after --hold ms), the refused-reservation rate,
// deploy attempts and wall time; exits 1 when a VM is missing or a host was ever over-committed.
//   npx node simulations/scheduler/deploy-mesh.ts [--deployers 10] [--pools 10] [--vms 20] [--hosts 20] [--procs 2]
//     [--fill 0.97] [--seed 1] [--attempts 12] [--timeout 10000] [--hold 20000] [--probe 1000]
// --probe: the failure detector's probe interval, ms (probe timeout 0.8 of it, suspicion 8 x log10(N) probes); 0
// keeps the daemon's (500 ms, 250 ms, 3 x): tuned for a 5 s detection, it declares starved peers dead by the dozen
// on this 2-core machine when others load it, and a peer declared dead is hung up on, commits in flight with it.
// The in-memory twin of the same path (virtual clock) is memory-mesh.ts; deploy-contention.ts runs it.

import { numArgs } from '../bench/scheduler-args.ts'
import { runLibp2pContention } from './libp2p-contention.ts'
import type { HostsLook } from './libp2p-contention.ts'

// Kept for importers of the in-memory mesh under its former name.
export { DeployMesh, NullEngine } from './memory-mesh.ts'

if (import.meta.main) {
  const a = numArgs({ deployers: 10, pools: 10, vms: 20, hosts: 20, procs: 2, fill: 0.97, seed: 1, attempts: 12, timeout: 10_000, hold: 20_000, probe: 1000 })
  const t0 = performance.now()
  const f = await runLibp2pContention({
    deployers: a.deployers, pools: a.pools, vms: a.vms, hosts: a.hosts, procs: a.procs, fill: a.fill, seed: a.seed, maxAttempts: a.attempts,
    timings: { requestTimeoutMs: a.timeout }, holdMs: a.hold,
    ...(a.probe > 0 ? { membership: { probeIntervalMs: a.probe, probeTimeoutMs: 0.8 * a.probe, suspicionMult: 8 } } : {}), log: (l) => { console.log(l) }
  })
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`
  const hosts = (when: string, l: HostsLook): void => {
    console.log(`  ${when}: VMs placed ${l.vmsPlaced}/${f.vms}, pools whole ${l.poolsWhole}/${f.pools}, reservations pending ${l.reservedLeft}, hosts over-committed ${l.overCommitted} (over-capacity changes ever seen ${l.overSeen}), host memory use ${pct(l.minUse)}-${pct(l.maxUse)}; membership events so far: ${l.suspicions} suspicions, ${l.deaths} deaths (all false)`)
  }
  console.log(`real libp2p: ${a.deployers} deployers x ${a.pools} pools x ${a.vms} VMs (512 MiB) at once on ${a.hosts} hosts of ${f.capacityMiB} MiB in ${a.procs} processes, failure detector ${a.probe > 0 ? `probing every ${a.probe} ms` : 'the daemon\'s'} (mesh ${pct(f.vms * 512 / (f.capacityMiB * a.hosts))} full)`)
  console.log(`  pools deployed ${f.poolsDeployed}/${f.pools}; attempts ${f.attempts} (${(f.attempts / Math.max(1, f.poolsDeployed)).toFixed(2)} per pool, max ${f.maxAttempts}); refused reservations ${f.refusals} (${pct(f.refusedRate)} of VM placements asked)`)
  hosts('hosts\' own accounting after the deploys', f.afterDeploy)
  if (a.hold > 0) hosts(`and ${(a.hold / 1000).toFixed(0)} s later`, f.afterHold)
  console.log(`  wall ${(f.wallMs / 1000).toFixed(1)} s from the first deploy call to the last answer (mesh start ${(f.startMs / 1000).toFixed(1)} s, converged at ${(f.convergeMs / 1000).toFixed(1)} s; total ${((performance.now() - t0) / 1000).toFixed(1)} s)`)
  console.log(`  deploy peers' events: ${Object.entries(f.events).sort((x, y) => y[1] - x[1]).map(([m, n]) => `${m} ${n}`).join('; ')}`)
  for (const x of f.failures.slice(0, 5)) console.log(`  FAILED ${x}`)
  const whole = f.afterHold.vmsPlaced === f.vms && f.afterDeploy.vmsPlaced === f.vms && f.poolsDeployed === f.pools
  process.exitCode = whole && f.afterHold.overSeen === 0 && f.afterHold.overCommitted === 0 ? 0 : 1
}
