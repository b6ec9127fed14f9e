import { isActive } from './registry.ts'
import type { PoolRegistry } from './registry.ts'
import type { PartPlan } from './types.ts'

// What an owner checks before it prepares a re-placed part, besides the operator's signature on the part
// (PartVerifier.replacement): the pool is live in its registry replica, each part is a scheduled VM of it, with the
// parent the deploy gave it, and the epoch moves the VM on from a host this peer also holds dead. The same epoch
// on this peer is the coordinator (or its successor) asking again for what it already reserved here.

export function replacementProblem (registry: PoolRegistry, self: string, isLive: (peer: string) => boolean,
  pool: string, parts: readonly PartPlan[], epoch: number): string | undefined {
  const r = registry.get(pool)
  if (r === undefined || !isActive(r)) return `pool ${pool} is not running here`
  for (const part of parts) {
    const name = part.path || '(root)'
    const vm = r.vms?.find(v => v.path === part.path && !v.pinned)
    if (vm?.plan === undefined) return `part ${name} of pool ${pool} is not a scheduled VM`
    if (part.parentPath !== vm.plan.parentPath || part.parentPeer !== vm.plan.parentPeer) return `part ${name}: not the parent it was deployed under`
    const cur = r.parts.find(p => p.path === part.path)
    if (cur === undefined) return `part ${name} is not in pool ${pool}`
    const at = cur.epoch ?? 1
    if (epoch === at && cur.peer === self) continue
    if (epoch <= at) return `part ${name}: epoch ${epoch} is not after ${at}`
    if (isLive(cur.peer)) return `part ${name}: its host ${cur.host} (${cur.peer}) is alive here`
  }
  return undefined
}
