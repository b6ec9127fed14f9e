// Refused-reservation rate (refusals / reservation requests) with 10 and 20 deployers placing at once, on 1,000
// simulated hosts and on 20. Goal: under 5%. Also checks, from every host's own accounting, that none is
// over-committed.
//   npx node simulations/bench/scheduler-refusals.ts [--seed 1] [--hosts 1000] [--fill 0.75] [--paceMs 2000]

import { makeWorkload } from '../scheduler/workload.ts'
import { runDeploy } from '../scheduler/scenarios.ts'
import { numArgs, pct } from './scheduler-args.ts'

const a = numArgs({ seed: 1, hosts: 1000, fill: 0.75, paceMs: 2000 })
console.log('hosts deployers  pace    announce  requests refused  rate    goal<5%  failed pools  over-committed hosts')
for (const hosts of [a.hosts, 20]) {
  for (const deployers of [10, 20]) {
    for (const [pace, early] of [[a.paceMs, 0.1], [0, 0.1], [0, 0]]) {
      // the same total demand whatever the number of deployers: 10 VMs per host at 1,000 hosts, 100 per host at 20
      // (10 deployers x 10 pools x 20 VMs, the issue's case)
      const total = hosts >= 100 ? 10 * hosts : 100 * hosts
      const w = makeWorkload({ seed: a.seed, hosts, deployers, poolsPerDeployer: 10, vmsPerPool: Math.max(1, Math.round(total / deployers / 10)), fill: a.fill })
      const { figures: f } = await runDeploy(w, { seed: a.seed, announceChange: early, poolDeployMs: pace > 0 ? [pace / 2, pace * 1.5] : undefined })
      console.log(`${String(hosts).padStart(5)} ${String(deployers).padStart(9)}  ${pace > 0 ? `${pace}ms` : 'burst '}  ${early > 0 ? 'early   ' : 'periodic'}  ${String(f.attempts).padStart(8)} ${String(f.refused).padStart(7)}  ${pct(f.refusalRate).padStart(6)}  ${f.refusalRate < 0.05 ? 'met   ' : 'MISSED'}   ${String(f.failedPools).padStart(4)}/${f.pools}       ${f.overcommitted.length}`)
    }
  }
}
console.log('pace: virtual time a deployer spends deploying a pool (VMs booting) before placing its next; burst: none.')
console.log('announce: early = a host re-announces when its share moved 10% (at most every 200 ms) besides every 1 s; periodic = every 1 s only.')
