import type { ComponentStatus, TerminationRecord } from '../engine/types.ts'
import type { SfJson, SfJsonObject } from '../sf/sfjson.ts'
import { isComponent } from '../sf/sfjson.ts'
import { pathSegments as segments } from './split.ts'
import type { PartPlan } from './types.ts'

// The termination records of remote children, as the part holding their parent keeps them: what Compound's
// childRecords are on one host. The component holding a remote child, and its sfSyncTerminate, are read from the
// part's own description (the operator signed it), not from a field of the plan that nothing signs.

/** A remote child that ended, as its parent's part recorded it. `host`: the host it ran on. */
export interface ChildRecord { host: string, record: TerminationRecord }

/** Marks a status entry the parent's part made for a remote child (the child's own peer knows its real type). */
export const REMOTE_CHILD_TYPE = 'RemotePart'

/**
 * The component of `plan` holding the remote child at `childPath` (its parent) and whether it shares its children's
 * fate (sfSyncTerminate true, as Compound reads it). A holder missing from the description counts as not syncing.
 */
export function holderOf (plan: PartPlan, childPath: string): { path: string, sync: boolean } {
  const path = segments(childPath).slice(0, -1).join(':')
  let cd: SfJsonObject | undefined = plan.config
  for (const s of segments(path).slice(segments(plan.path).length)) {
    const next: SfJson | undefined = cd?.[s]
    cd = next !== undefined && isComponent(next) ? next : undefined
  }
  const v = cd?.sfSyncTerminate
  return { path, sync: v === true || v === 'true' }
}

/**
 * The status line of a remote child that ended. As on one host: the origin of an abnormal termination ends failed,
 * a child taken down from below (its own child's record) ends terminated, with the record's reason (kept here for
 * a normal end too: the operator asked why a child is gone).
 */
export function childStatus (path: string, r: ChildRecord): ComponentStatus {
  const failed = r.record.type !== 'normal' && r.record.path === path
  return { path, type: REMOTE_CHILD_TYPE, host: r.host, state: failed ? 'failed' : 'terminated', reason: r.record.reason }
}

/**
 * One line per path from the owners' answers: where the child's own peer still lists it, its line stays (its real
 * type), with the state the parent's record gives it (failed for the origin of an abnormal end) and its reason.
 */
export function mergeChildStatuses (components: ComponentStatus[]): ComponentStatus[] {
  const byPath = new Map<string, ComponentStatus>()
  for (const c of components) {
    const had = byPath.get(c.path)
    if (had === undefined) { byPath.set(c.path, c); continue }
    const [own, rec] = had.type === REMOTE_CHILD_TYPE ? [c, had] : [had, c]
    if (rec.type !== REMOTE_CHILD_TYPE) continue
    byPath.set(c.path, { ...own, state: rec.state, ...(own.reason === undefined && rec.reason !== undefined ? { reason: rec.reason } : {}) })
  }
  return [...byPath.values()]
}
