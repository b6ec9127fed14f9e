import { coordinatorOf, hrwOrder } from '../scheduler/coordinator.ts'
import type { DeployPeer } from './peer.ts'
import { participantsOf } from './registry.ts'
import { ALIVE_HERE, currentParentPeer } from './replacement-check.ts'
import type { PoolRecordView } from './types.ts'

// Re-placing the parts that are not one VM — the pool's root above all — when their host dies. SmartFrog ends a
// pool whose root's process dies (its children find their parent gone and terminate). Here the root is a role of
// the mesh like the coordinator: the pool's description and the operator's proof of every part are replicated in
// the pool record, so the pool's coordinator deploys the lost part again, at epoch + 1, on a live participant
// (itself first), and the surviving children follow it (orphans.ts: "re-parent"; or the new parent's first ping).
// What the part held on the dead host (its local components) starts again from its description, as a re-placed VM
// does from its base image. Same two steps as a VM's re-placement: the reservation (a prepare judged by the new
// host's admission and signature check) is written to the record before the commit, so a successor that takes over
// between the two commits it instead of placing it twice. A part no live participant accepts fails the pool with the
// reason; a part that met only errors (timeouts) is tried again at the next sweep.

export interface PartReplacerInit {
  peer: DeployPeer
  /** Liveness as the failure detector says it (a suspect is live). */
  isLive: (peer: string) => boolean
  /** Writes the next version of the pool's record to its members (LiveReplacement's write). */
  write: (pool: string, change: (old: PoolRecordView) => Omit<PoolRecordView, 'version'>) => Promise<void>
  hostName: (peer: string) => string
  leaseMs: number
  log: (message: string, context: Record<string, unknown>) => void
}

export interface PartsOutcome {
  replaced: Array<{ path: string, from: string, to: string, epoch: number }>
  /** The pool ended: this part could not be placed anywhere. */
  failed?: { path: string, reason: string }
  /** Something is left to do at the next sweep (an unanswered prepare or commit). */
  retry: boolean
}

export const replacementId = (pool: string, path: string, epoch: number): string => `${pool}/${path}@${epoch}`

/** The non-VM parts of `pool` on dead hosts (or left reserved by a previous coordinator), parents first. */
export function lostParts (r: PoolRecordView, isLive: (peer: string) => boolean): PoolRecordView['parts'] {
  const vms = new Set((r.vms ?? []).map(v => v.path))
  return r.parts.filter(p => !vms.has(p.path) && p.placement !== 'failed' && (!isLive(p.peer) || p.placement === 'reserved'))
}

/** Runs on every participant; acts only on the pool's coordinator. */
export async function replaceLostParts (c: PartReplacerInit, pool: string): Promise<PartsOutcome> {
  const out: PartsOutcome = { replaced: [], retry: false }
  const { peer, isLive } = c
  const first = peer.registry.get(pool)
  if (first === undefined || first.partPlans === undefined) return out
  if (coordinatorOf(pool, participantsOf(first), isLive) !== peer.self) return out
  // The record is read again for every part: a parent re-placed just before is where its children's parent now is.
  for (const { path } of lostParts(first, isLive)) {
    const r = peer.registry.get(pool)
    const cur = r?.parts.find(p => p.path === path)
    if (r === undefined || r.state !== 'running' || cur === undefined) return out
    const epoch = cur.epoch ?? 1
    if (cur.placement === 'reserved' && isLive(cur.peer)) {
      // A previous coordinator reserved it there and died before the commit.
      if (await commit(c, pool, path, cur.peer, epoch)) { out.replaced.push({ path, from: cur.peer, to: cur.peer, epoch }); continue }
    }
    const got = await place(c, r, path, epoch + 1, cur.peer)
    if (got.to === undefined) {
      if (got.definite) {
        out.failed = { path, reason: `part ${path || '(root)'} lost with its host ${cur.host} and no live participant took it: ${got.refusals.join('; ') || 'no live participant'}` }
        await c.write(pool, old => ({ ...old, state: 'failed', reason: out.failed!.reason, parts: old.parts.map(p => p.path === path ? { ...p, placement: 'failed' as const, reason: out.failed!.reason } : p) }))
        c.log('pool failed: a part could not be re-placed', { pool, path, reason: out.failed.reason })
        return out
      }
      out.retry = true
      continue
    }
    out.replaced.push({ path, from: cur.peer, to: got.to, epoch: epoch + 1 })
    if (!await commit(c, pool, path, got.to, epoch + 1)) out.retry = true
  }
  return out
}

/** Prepares the part on the first live participant (this peer first) that accepts it, then records the reservation. */
async function place (c: PartReplacerInit, r: PoolRecordView, path: string, epoch: number, from: string): Promise<{ to?: string, definite: boolean, refusals: string[] }> {
  const { peer, isLive } = c
  const pool = r.pool
  const entry = r.partPlans?.find(p => p.path === path)
  if (entry === undefined) return { definite: true, refusals: ['the pool record holds no plan of it'] }
  const participants = participantsOf(r)
  const candidates = [peer.self, ...hrwOrder(pool, participants).filter(p => p !== peer.self && p !== from && isLive(p))]
  const parentPeer = currentParentPeer(r, entry.plan.parentPath)
  const refusals: string[] = []
  let definite = true
  for (const to of candidates) {
    const host = c.hostName(to)
    const part = { ...entry.plan, host, peer: to, ...(parentPeer !== undefined ? { parentPeer } : {}) }
    try {
      const res = await peer.request(to, {
        type: 'prepare', deployId: replacementId(pool, path, epoch), pool, coordinator: peer.self, parts: [part],
        participants: [...new Set([...participants, to])].sort(), leaseMs: c.leaseMs,
        ...(entry.auth !== undefined ? { auth: entry.auth } : {}), replace: { epoch }
      })
      if (res.type === 'prepared' && res.ok) {
        await c.write(pool, old => ({
          ...old,
          participants: [...new Set([...participantsOf(old), to])].sort(),
          parts: old.parts.map(p => p.path === path ? { ...withoutReason(p), peer: to, host, epoch, placement: 'reserved' as const } : p)
        }))
        return { to, definite, refusals }
      }
      const reason = res.type === 'prepared' && !res.ok ? res.reason : `unexpected answer ${res.type}`
      // A participant that has not yet learnt the death refuses for now: that is no verdict on the part.
      if (reason.includes(ALIVE_HERE)) definite = false
      refusals.push(`${host}: ${reason}`)
    } catch (err) {
      definite = false
      refusals.push(`${host}: ${(err as Error).message}`)
    }
  }
  c.log('part not re-placed', { pool, path, epoch, refusals })
  return { definite, refusals }
}

async function commit (c: PartReplacerInit, pool: string, path: string, to: string, epoch: number): Promise<boolean> {
  try {
    const res = await c.peer.requestUntilDone(to, { type: 'commit', deployId: replacementId(pool, path, epoch), pool })
    if (res.type !== 'committed' || !res.ok) {
      c.log('part re-placement commit refused', { pool, path, peer: to, reason: res.type === 'committed' && !res.ok ? res.reason : res.type })
      return false
    }
  } catch (err) {
    c.log('part re-placement commit failed', { pool, path, peer: to, error: (err as Error).message })
    return false
  }
  await c.write(pool, old => ({ ...old, parts: old.parts.map(p => p.path === path && p.peer === to && (p.epoch ?? 1) === epoch ? { ...withoutReason(p), placement: 'running' as const } : p) }))
  c.log('part re-placed', { pool, path, peer: to, epoch })
  return true
}

function withoutReason<P extends { reason?: string }> (p: P): Omit<P, 'reason'> {
  const { reason: _, ...rest } = p
  return rest
}
