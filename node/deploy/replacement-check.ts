import { isActive } from './registry.ts'
import type { PoolRegistry } from './registry.ts'
import { partOf } from './split.ts'
import type { PartPlan, PoolRecordView } from './types.ts'

// What an owner checks before it prepares a re-placed part, besides the operator's signature on the part
// (PartVerifier.replacement): the pool is live in its registry replica, each part is a scheduled VM of it or a part
// whose plan the record keeps (the root, a compound on a host of its own: replace-parts.ts), under the parent the
// deploy gave it — on the peer that deployed that parent, or on the one the record has moved the parent to since —
// and the epoch moves the part on from a host this peer also holds dead. The same epoch on this peer is the
// coordinator (or its successor) asking again for what it already reserved here.

/** The refusal of a peer that does not hold the part's host dead (yet): the re-placer asks again later. */
export const ALIVE_HERE = 'is alive here'

export function replacementProblem (registry: PoolRegistry, self: string, isLive: (peer: string) => boolean,
  pool: string, parts: readonly PartPlan[], epoch: number): string | undefined {
  const r = registry.get(pool)
  if (r === undefined || !isActive(r)) return `pool ${pool} is not running here`
  for (const part of parts) {
    const name = part.path || '(root)'
    const recorded = recordedPlan(r, part.path)
    if (recorded === undefined) return `part ${name} of pool ${pool} is neither a scheduled VM nor a part the record can re-place`
    if (part.parentPath !== recorded.parentPath || !parentPeerOk(r, recorded, part.parentPeer)) return `part ${name}: not the parent it was deployed under`
    const cur = r.parts.find(p => p.path === part.path)
    if (cur === undefined) return `part ${name} is not in pool ${pool}`
    const at = cur.epoch ?? 1
    if (epoch === at && cur.peer === self) continue
    if (epoch <= at) return `part ${name}: epoch ${epoch} is not after ${at}`
    if (isLive(cur.peer)) return `part ${name}: its host ${cur.host} (${cur.peer}) ${ALIVE_HERE}`
  }
  return undefined
}

/** The plan the record keeps for a re-placeable part: a scheduled VM's, or another part's (partPlans). */
export function recordedPlan (r: PoolRecordView, path: string): PartPlan | undefined {
  const vm = r.vms?.find(v => v.path === path)
  if (vm !== undefined) return vm.pinned ? undefined : vm.plan
  return r.partPlans?.find(p => p.path === path)?.plan
}

/** The parent's peer a re-placed part may name: where the parent's part was deployed, or where it runs now. */
export function currentParentPeer (r: Pick<PoolRecordView, 'parts'> | undefined, parentPath: string | undefined): string | undefined {
  return parentPath === undefined || r === undefined ? undefined : partOf(r.parts, parentPath)?.peer
}

function parentPeerOk (r: PoolRecordView, recorded: PartPlan, peer: string | undefined): boolean {
  return peer === recorded.parentPeer || (peer !== undefined && peer === currentParentPeer(r, recorded.parentPath))
}
