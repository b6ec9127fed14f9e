import type { PoolEngine } from '../engine/types.ts'
import type { Clock } from '../seams/clock.ts'
import { enginePoolName } from './engine-adapter.ts'
import type { DeployPeer } from './peer.ts'
import { isActive } from './registry.ts'

// Fencing at restart. The engine recovers every part this host ran before it died; while it was dead the pool's
// coordinator may have placed those VMs elsewhere, or the pool may have ended. Before the daemon answers for
// anything, it learns the pool registry from a live peer and stops each recovered part the record no longer puts
// here: no VM runs twice. A part still placed here stays as the engine recovered it.

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
}

/** Learns the registry (a peer that joins needs it anyway: `ls`, and re-placements it may receive), then fences. */
export async function fenceRecovered (c: FenceInit): Promise<FenceOutcome> {
  const learned = await learnRegistry(c)
  const recovered = new Set(c.engine.status().map(p => p.pool))
  if (recovered.size === 0) return { stopped: [], learned }
  if (!learned) {
    c.log('fencing: no peer to learn the pool registry from; recovered parts kept', { parts: [...recovered] })
    return { stopped: [], learned }
  }
  const stopped: FenceOutcome['stopped'] = []
  for (const r of c.peer.registry.list()) {
    for (const p of r.parts) {
      const name = enginePoolName(r.pool, p.path)
      if (!recovered.has(name)) continue
      const reason = !isActive(r) ? `pool ${r.pool} ${r.state} meanwhile` : p.peer !== c.peer.self ? `placed on ${p.host} at epoch ${p.epoch ?? 1}` : undefined
      if (reason === undefined) continue
      try {
        await c.engine.terminate(name, 'abnormal', `fenced: ${reason}`)
        stopped.push({ enginePool: name, reason })
        c.log('fenced: recovered part stopped', { pool: r.pool, path: p.path, reason })
      } catch (err) {
        c.log('fencing: could not stop a recovered part', { pool: r.pool, path: p.path, error: (err as Error).message })
      }
    }
  }
  return { stopped, learned }
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
