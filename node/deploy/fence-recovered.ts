import type { PoolEngine } from '../engine/types.ts'
import type { Clock } from '../seams/clock.ts'
import { enginePoolName } from './engine-adapter.ts'
import type { DeployPeer } from './peer.ts'
import { isActive, participantsOf } from './registry.ts'
import { currentParentPeer } from './replacement-check.ts'
import type { PoolRecordView } from './types.ts'

// Fencing at restart. The engine recovers every part this host ran before it died; while it was dead the pool's
// coordinator may have placed those VMs elsewhere, or the pool may have ended. Before the daemon answers for
// anything, it learns the pool registry from a live peer and stops each recovered part the record no longer puts
// here: no VM runs twice. A part the record still places here, at the epoch it has, is taken back: into the mesh
// lifecycle (its parent's pings find it, it watches its parent, `status` and `terminate` reach it) and into the
// host's admission (its domains count against the capacity again), from the plan the record keeps of it.

export interface FenceInit {
  engine: PoolEngine
  peer: DeployPeer
  /** Live members of the mesh (this peer included). */
  members: () => string[]
  clock: Clock
  log: (message: string, context: Record<string, unknown>) => void
  /** How long to wait for a peer to learn the registry from. Default 10 s. */
  waitMs?: number
}

export interface FenceOutcome {
  /** Engine pools stopped, each with the reason. */
  stopped: Array<{ enginePool: string, reason: string }>
  /** False when no peer could be asked: nothing was stopped (this host may be the first of the mesh again). */
  learned: boolean
  /** Parts taken back into the mesh lifecycle, as `pool:path`. */
  readopted: string[]
}

/** Learns the registry (a peer that joins needs it anyway: `ls`, and re-placements it may receive), then fences. */
export async function fenceRecovered (c: FenceInit): Promise<FenceOutcome> {
  const learned = await learnRegistry(c)
  const recovered = new Set(c.engine.status().map(p => p.pool))
  if (recovered.size === 0) return { stopped: [], learned, readopted: [] }
  if (!learned) {
    c.log('fencing: no peer to learn the pool registry from; recovered parts kept', { parts: [...recovered] })
    return { stopped: [], learned, readopted: [] }
  }
  const stopped: FenceOutcome['stopped'] = []
  const readopted: string[] = []
  for (const r of c.peer.registry.list()) {
    for (const p of r.parts) {
      const name = enginePoolName(r.pool, p.path)
      if (!recovered.has(name)) continue
      const reason = !isActive(r) ? `pool ${r.pool} ${r.state} meanwhile`
        : p.peer !== c.peer.self ? `placed on ${p.host} at epoch ${p.epoch ?? 1}`
          : p.placement === 'failed' ? `reported lost meanwhile (${p.reason ?? 'failed'})` : undefined
      if (reason === undefined) {
        if (readopt(c, r, p)) readopted.push(`${r.pool}:${p.path}`)
        continue
      }
      try {
        await c.engine.terminate(name, 'abnormal', `fenced: ${reason}`)
        stopped.push({ enginePool: name, reason })
        c.log('fenced: recovered part stopped', { pool: r.pool, path: p.path, reason })
      } catch (err) {
        c.log('fencing: could not stop a recovered part', { pool: r.pool, path: p.path, error: (err as Error).message })
      }
    }
  }
  return { stopped, learned, readopted }
}

/** Takes a recovered part the record still places here back into the mesh lifecycle and admission. */
function readopt (c: FenceInit, r: PoolRecordView, p: PoolRecordView['parts'][number]): boolean {
  const recorded = r.vms?.find(v => v.path === p.path)?.plan ?? r.partPlans?.find(x => x.path === p.path)?.plan
  if (r.state !== 'running' || recorded === undefined) {
    c.log('recovered part kept outside the mesh lifecycle: the record has no plan of it', { pool: r.pool, path: p.path, state: r.state })
    return false
  }
  // As it runs here now: on this peer, under its parent wherever the record has it (it may have moved meanwhile).
  const parentPeer = currentParentPeer(r, recorded.parentPath) ?? recorded.parentPeer
  const plan = { ...recorded, host: p.host, peer: c.peer.self, ...(parentPeer !== undefined ? { parentPeer } : {}) }
  c.peer.participant.recovered(r.pool, plan, participantsOf(r), p.epoch ?? 1)
  c.log('recovered part taken back', { pool: r.pool, path: p.path, epoch: p.epoch ?? 1 })
  return true
}

async function learnRegistry (c: FenceInit): Promise<boolean> {
  const deadline = c.clock.now() + (c.waitMs ?? 10_000)
  for (;;) {
    for (const m of c.members().filter(p => p !== c.peer.self)) {
      try {
        await c.peer.registry.syncFrom(m)
        return true
      } catch {}
    }
    if (c.clock.now() >= deadline) return false
    await c.clock.sleep(200)
  }
}
