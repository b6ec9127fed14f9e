import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

// Splits a V8 .cpuprofile (node --cpu-prof) of the daemon into where its CPU went, by the innermost frame that names
// one of our layers: host commands (execa and child_process spawn: the fork/exec cost of running a command, which the
// benchmark counts as command time), persistence (node/store), the control API and logging, and the rest of sdpeer
// (engine, components, storage logic, sim driver). Module loading (the daemon's start-up) is counted apart.

interface Node { id: number, callFrame: { functionName: string, url: string }, children?: number[] }
interface Profile { nodes: Node[], samples: number[], timeDeltas: number[] }

export type Category = 'idle' | 'start-up (module loading)' | 'host commands (spawn)' | 'persistence (node/store)' | 'control API + logging' | 'gc' | 'engine, components, storage, sim driver, other'

function categoryOf (frames: Array<Node['callFrame']>): Category {
  const leaf = frames[0]
  if (leaf && (leaf.functionName === '(idle)')) return 'idle'
  if (leaf && leaf.functionName === '(garbage collector)') return 'gc'
  for (const f of frames) {
    if (f.url.startsWith('node:internal/modules')) return 'start-up (module loading)'
    if (f.url.includes('node_modules/execa') || f.url.includes('child_process')) return 'host commands (spawn)'
    if (f.url.includes('/node/store/')) return 'persistence (node/store)'
    if (f.url.includes('/node/api/') || f.url.includes('/node/daemon/') || f.url.includes('node_modules/pino')) return 'control API + logging'
  }
  return 'engine, components, storage, sim driver, other'
}

export async function summariseProfiles (dir: string): Promise<Map<Category, number>> {
  const out = new Map<Category, number>()
  for (const file of (await readdir(dir)).filter(f => f.endsWith('.cpuprofile'))) {
    const p = JSON.parse(await readFile(join(dir, file), 'utf8')) as Profile
    const byId = new Map(p.nodes.map(n => [n.id, n]))
    const parent = new Map<number, number>()
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
    const cache = new Map<number, Category>()
    p.samples.forEach((id, i) => {
      let cat = cache.get(id)
      if (cat === undefined) {
        const frames: Array<Node['callFrame']> = []
        for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) frames.push(byId.get(x)!.callFrame)
        cat = categoryOf(frames)
        cache.set(id, cat)
      }
      out.set(cat, (out.get(cat) ?? 0) + (p.timeDeltas[i] ?? 0) / 1000)
    })
  }
  return out
}
