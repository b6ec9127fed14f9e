// Fencing by epoch. A host the mesh declared dead may come back with its domains still running (a partition that
// healed, a daemon that was frozen). Before it announces itself alive it asks the pools' record which copies are
// still its own: any VM whose record is at a higher epoch or on another host was placed elsewhere, and the host
// stops its copy first. Its admission learns the epochs too, so a late request for the old copy is refused.

import type { HostAdmission } from './admission.ts'
import type { VmRecord } from './pool-record.ts'

export interface LocalCopy {
  pool: string
  vmId: string
  epoch: number
  /** The admission entry that accounts for it. */
  requestId: string
}

/** A copy is kept only when the record still puts that VM, at that epoch, on this host. */
export function mustStop (self: string, copy: LocalCopy, authoritative: VmRecord | undefined): boolean {
  if (!authoritative) return true // the pool was terminated or never knew this copy: nobody owns it
  if (authoritative.epoch > copy.epoch) return true
  return authoritative.host !== self || authoritative.state === 'failed'
}

export interface RejoinComponents {
  self: string
  admission: HostAdmission
  /** The running copies on this host (from the driver's list and the saved handles). */
  copies: () => readonly LocalCopy[]
  /** The pool's record from any live participant; undefined when no participant knows the pool. */
  fetchRecord: (pool: string, options?: { signal?: AbortSignal }) => Promise<readonly VmRecord[] | undefined>
  /** Stops one copy for good (destroy); resolves once it is gone. */
  stopCopy: (copy: LocalCopy, options?: { signal?: AbortSignal }) => Promise<void>
  /** Tells the mesh this host is alive again. Called only after every stale copy is gone. */
  announceAlive: () => void
}

/** Fences, then announces. Returns the copies it stopped. Rejects (and stays unannounced) if a record or stop fails. */
export async function rejoin (c: RejoinComponents, options: { signal?: AbortSignal } = {}): Promise<LocalCopy[]> {
  c.admission.setDraining(true)
  const stopped: LocalCopy[] = []
  const copies = c.copies()
  const pools = [...new Set(copies.map(x => x.pool))].sort()
  for (const pool of pools) {
    const record = await c.fetchRecord(pool, options)
    const byVm = new Map((record ?? []).map(r => [r.vmId, r]))
    for (const r of record ?? []) c.admission.fence(pool, r.vmId, r.epoch)
    for (const copy of copies.filter(x => x.pool === pool)) {
      if (!mustStop(c.self, copy, byVm.get(copy.vmId))) continue
      await c.stopCopy(copy, options)
      c.admission.release(copy.requestId)
      stopped.push(copy)
    }
  }
  c.admission.setDraining(false)
  c.announceAlive()
  return stopped
}
