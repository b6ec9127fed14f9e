// The replicated placement record of one pool: which host runs each scheduled (or pinned) VM, at which epoch, in
// which state. Every participant holds a replica; updates merge per VM, the higher epoch winning and, within an
// epoch, the later state (reserved -> running -> failed). The merge is commutative and idempotent, so replicas that
// receive the same updates in any order agree, and a coordinator that takes over reads the same record.

import type { VmDemand } from './types.ts'

export type VmPlacementState = 'reserved' | 'running' | 'failed'

export interface VmRecord {
  vmId: string
  demand: VmDemand
  host: string
  epoch: number
  state: VmPlacementState
  /** Pinned by sfProcessHost: never moved by the scheduler. */
  pinned: boolean
  /** Image saved at the last termination, used instead of the base image when re-placed. */
  savedImage?: string
  requestId: string
  /** Why it failed (state 'failed'). */
  reason?: string
}

const STATE_ORDER: Record<VmPlacementState, number> = { reserved: 0, running: 1, failed: 2 }

/** True when `u` should replace `cur` (newer epoch, or same epoch and later state). */
export function supersedes (u: VmRecord, cur: VmRecord | undefined): boolean {
  if (!cur) return true
  if (u.epoch !== cur.epoch) return u.epoch > cur.epoch
  return STATE_ORDER[u.state] > STATE_ORDER[cur.state]
}

export class PoolRecord {
  readonly pool: string
  readonly #vms = new Map<string, VmRecord>()
  readonly #participants = new Set<string>()

  constructor (pool: string, participants: Iterable<string> = []) {
    this.pool = pool
    for (const p of participants) this.#participants.add(p)
  }

  /** Applies one update; returns true when it changed the replica. */
  apply (u: VmRecord): boolean {
    if (!supersedes(u, this.#vms.get(u.vmId))) return false
    this.#vms.set(u.vmId, { ...u })
    return true
  }

  /**
   * Participants only grow (a set union: commutative like the VM merge). A host that receives a re-placed VM is
   * added by the coordinator at the end of its run, not by each VM update, so the coordinator does not change
   * under its own feet in the middle of a run.
   */
  addParticipant (peer: string): boolean {
    if (this.#participants.has(peer)) return false
    this.#participants.add(peer)
    return true
  }

  /** Participants, sorted (the coordinator ranks them by HRW; sorting keeps seeded runs repeatable). */
  participants (): string[] { return [...this.#participants].sort() }

  get (vmId: string): VmRecord | undefined {
    const r = this.#vms.get(vmId)
    return r ? { ...r } : undefined
  }

  vms (): VmRecord[] { return [...this.#vms.values()].map(r => ({ ...r })).sort((a, b) => a.vmId < b.vmId ? -1 : a.vmId > b.vmId ? 1 : 0) }

  snapshot (): { pool: string, participants: string[], vms: VmRecord[] } {
    return { pool: this.pool, participants: this.participants(), vms: this.vms() }
  }
}
