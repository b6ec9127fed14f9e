// Time to re-place the VMs of a host that dies (partitioned: its domains keep running), at 1,000 simulated hosts and
// at 20: from the failure to the last of its VMs running elsewhere, and the same minus the failure-detection time;
// then with the pool's coordinator killed at the same moment; then the host returns and fences its copies.
//   npx node simulations/bench/scheduler-replace.ts [--seed 1] [--hosts 1000] [--detectionMs 3000]

import { makeWorkload } from '../scheduler/workload.ts'
import { runReplacement } from '../scheduler/scenarios.ts'
import { numArgs } from './scheduler-args.ts'

const a = numArgs({ seed: 1, hosts: 1000, detectionMs: 3000 })
console.log('hosts  case                 victim VMs  re-placed in  after detection  fenced  duplicates  wall')
for (const hosts of [a.hosts, 20]) {
  const w = () => makeWorkload({ seed: a.seed, hosts, deployers: 20, poolsPerDeployer: 5, vmsPerPool: hosts >= 100 ? 50 : 10, fill: 0.7 })
  for (const [name, r] of [['host dies', {}], ['+ coordinator dies', { killCoordinator: true }], ['+ host returns', { healAfterMs: 20_000 }]] as const) {
    const t0 = performance.now()
    const { figures: f } = await runReplacement(w(), { seed: a.seed, detectionMs: a.detectionMs, poolDeployMs: [500, 1500] }, r)
    console.log(`${String(hosts).padStart(5)}  ${name.padEnd(20)} ${String(f.victimVms).padStart(10)}  ${(f.replaceMs / 1000).toFixed(3).padStart(10)} s  ${(f.afterDetectionMs / 1000).toFixed(3).padStart(13)} s  ` +
      `${String(f.fenced).padStart(6)}  ${String(f.duplicates.length).padStart(10)}  ${((performance.now() - t0) / 1000).toFixed(1)}s${f.killedCoordinator !== undefined ? `  (killed coordinator ${f.killedCoordinator}, successor ${f.expectedSuccessor ?? "?"} by HRW, re-placed by ${(f.actors ?? []).join(",") || "?"})` : ""}${f.notReplaced.length > 0 ? `  NOT re-placed: ${f.notReplaced.length}` : ''}`)
  }
}
console.log(`Failure detection modelled as ${a.detectionMs} ms (every peer declares the death at the same instant).`)
