import { isActive } from './registry.ts'
import { partOf } from './split.ts'
import type { OrphanDecision, OrphanReport, PoolRecordView } from './types.ts'

// What the pool's coordinator answers a part whose parent's peer stopped pinging it. SmartFrog's answer is to
// terminate the orphan; here the parent's part is re-deployed elsewhere when its host dies (the root included:
// replace-parts.ts), so the answer follows the pool record instead:
// - the parent's part runs on another peer now (re-placed at a higher epoch): re-parent to it;
// - its host is not declared dead (only suspected, or the child alone lost it), or it is dead and its part is being
//   re-placed: wait, and ask again at the next missed ping — the failure detector and the re-placement decide;
// - the pool ended, or the parent's part could not be re-placed (placement failed), or nothing can re-place it
//   (a pinned VM, a record without its plan): terminate, as SmartFrog does.
// Pure: the daemon's policy reads its registry replica and its failure detector (LiveReplacement.orphanPolicy).

export function orphanDecision (r: PoolRecordView | undefined, report: OrphanReport, isLive: (peer: string) => boolean): OrphanDecision {
  if (r === undefined || !isActive(r)) return 'terminate'
  const me = r.parts.find(p => p.path === report.path)
  if (me?.parentPath === undefined) return 'terminate'
  const parent = partOf(r.parts, me.parentPath)
  if (parent === undefined || parent.placement === 'failed') return 'terminate'
  const settled = (parent.placement ?? 'running') === 'running'
  if (parent.peer !== report.parentPeer && isLive(parent.peer)) return settled ? { reparent: parent.peer } : 'wait'
  if (isLive(parent.peer)) return 'wait'
  return replaceable(r, parent.path) ? 'wait' : 'terminate'
}

/** A part the coordinator can deploy again elsewhere: a scheduled VM, or another part whose plan the record holds. */
export function replaceable (r: PoolRecordView, path: string): boolean {
  const vm = r.vms?.find(v => v.path === path)
  if (vm !== undefined) return !vm.pinned && vm.plan !== undefined
  return r.partPlans?.some(p => p.path === path) === true
}
