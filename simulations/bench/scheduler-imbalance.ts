// Placement imbalance (max/mean memory share over hosts) of the distributed scheduler — many deployers placing at
// once from gossiped views through host admission — against one central scheduler with a perfect view placing the
// same VMs with the same cost function, computed in the same run. Goal: within 10% of the central figure.
//   npx node simulations/bench/scheduler-imbalance.ts [--seed 1] [--hosts 1000] [--deployers 20] [--pools 10] [--vms 50]

import { makeWorkload } from '../scheduler/workload.ts'
import { runDeploy } from '../scheduler/scenarios.ts'
import { numArgs, pct } from './scheduler-args.ts'

const a = numArgs({ seed: 1, hosts: 1000, deployers: 20, pools: 10, vms: 50, fill: 0.75, paceMs: 2000 })
const cases = [
  { hosts: a.hosts, deployers: a.deployers, pools: a.pools, vms: a.vms },
  { hosts: 20, deployers: 10, pools: 10, vms: 20 }
]
console.log('hosts deployers VMs    pace     distributed central  ratio   goal<=1.10  refused  wall')
for (const c of cases) {
  for (const pace of [a.paceMs, 0]) {
    const w = makeWorkload({ seed: a.seed, hosts: c.hosts, deployers: c.deployers, poolsPerDeployer: c.pools, vmsPerPool: c.vms, fill: a.fill })
    const { figures: f } = await runDeploy(w, { seed: a.seed, poolDeployMs: pace > 0 ? [pace / 2, pace * 1.5] : undefined })
    const ratio = f.load.imbalance / f.central.imbalance
    console.log(`${String(c.hosts).padStart(5)} ${String(c.deployers).padStart(9)} ${String(f.placed).padStart(6)}/${f.vms} ${pace > 0 ? `${pace}ms` : 'burst '}  ` +
      `${f.load.imbalance.toFixed(3).padStart(8)}    ${f.central.imbalance.toFixed(3)}  ${ratio.toFixed(3)}  ${ratio <= 1.1 ? 'met' : 'MISSED'}        ${pct(f.refusalRate).padStart(6)}  ${(f.wallMs / 1000).toFixed(1)}s`)
  }
}
console.log('pace: virtual time a deployer spends deploying a pool (VMs booting) before placing its next; burst: none.')
