import { proveParts } from './auth.ts'
import type { DeployAuth } from './auth.ts'
import type { PartPlan, PoolPartView, PoolVmView } from './types.ts'

// The parts of a deploy whose plan the pool record does not hold already (a scheduled VM's is in `vms`): the root,
// a compound the operator put on a host of its own, a pinned VM. Each with its plan as first deployed and the
// operator's proof of it, so that when its host dies the pool's coordinator can deploy it again on a live
// participant (replace-parts.ts; a pinned VM stays reported lost), and a restarted host can take back a part it
// recovered (fence-recovered.ts).

export function partPlans (pool: string, parts: readonly PartPlan[], vms: readonly PoolVmView[], auth?: DeployAuth): PoolPartView[] {
  const vmPaths = new Set(vms.filter(v => v.plan !== undefined).map(v => v.path))
  const memo = new WeakMap<object, string>()
  return parts.filter(p => !vmPaths.has(p.path)).map(p => ({
    path: p.path,
    plan: p,
    ...(auth !== undefined ? { auth: proveParts(pool, auth, [p], memo) } : {})
  }))
}
