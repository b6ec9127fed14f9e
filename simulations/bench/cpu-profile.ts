import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

// Splits a V8 .cpuprofile (node --cpu-prof) of the daemon into where its CPU went. Each sample is put in the first
// of these that any frame of its stack matches (so a sample under execa counts as a host command even when engine
// code called execa):
//   idle                     the event loop waiting;
//   start-up                 module loading;
//   host commands (spawn)    frames of execa or child_process: fork/exec, pipes, exit handling of a host command;
//   hypervisor driver        frames of node/drivers/ (here the sim driver, an in-process stand-in for the hypervisor);
// and the rest is sdpeer itself, split for reading into persistence (node/store), control API + logging
// (node/api, node/daemon, pino), gc, and engine/components/storage logic (everything else, including V8's
// "(program)" native time). Samples can be restricted to time windows given on the profile's clock (microseconds of
// CLOCK_MONOTONIC, the clock of process.hrtime, so a benchmark can mark its phases in another process).

interface Node { id: number, callFrame: { functionName: string, url: string }, children?: number[] }
interface Profile { nodes: Node[], startTime: number, samples: number[], timeDeltas: number[] }

export type Category = 'idle' | 'start-up (module loading)' | 'host commands (spawn)' | 'hypervisor driver (sim)' |
  'persistence (node/store)' | 'control API + logging' | 'gc' | 'engine, components, storage logic, other'

/** The categories that are not sdpeer's own work. */
export const EXCLUDED: ReadonlySet<Category> = new Set(['idle', 'start-up (module loading)', 'host commands (spawn)', 'hypervisor driver (sim)'])

function categoryOf (frames: Array<Node['callFrame']>): Category {
  const leaf = frames[0]
  if (leaf && (leaf.functionName === '(idle)')) return 'idle'
  for (const f of frames) {
    if (f.url.startsWith('node:internal/modules')) return 'start-up (module loading)'
    if (f.url.includes('node_modules/execa') || f.url.includes('child_process')) return 'host commands (spawn)'
    if (f.url.includes('/node/drivers/')) return 'hypervisor driver (sim)'
  }
  if (leaf && leaf.functionName === '(garbage collector)') return 'gc'
  for (const f of frames) {
    if (f.url.includes('/node/store/')) return 'persistence (node/store)'
    if (f.url.includes('/node/api/') || f.url.includes('/node/daemon/') || f.url.includes('node_modules/pino')) return 'control API + logging'
  }
  return 'engine, components, storage logic, other'
}

/** Milliseconds of samples per category; `windows` (µs, [from, to)) keeps only the samples taken inside them. */
export async function summariseProfiles (dir: string, windows?: Array<[number, number]>): Promise<Map<Category, number>> {
  const out = new Map<Category, number>()
  for (const file of (await readdir(dir)).filter(f => f.endsWith('.cpuprofile'))) {
    const p = JSON.parse(await readFile(join(dir, file), 'utf8')) as Profile
    const byId = new Map(p.nodes.map(n => [n.id, n]))
    const parent = new Map<number, number>()
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
    const cache = new Map<number, Category>()
    let t = p.startTime
    p.samples.forEach((id, i) => {
      const dt = p.timeDeltas[i] ?? 0
      t += dt
      if (windows !== undefined && !windows.some(([a, b]) => t >= a && t < b)) return
      let cat = cache.get(id)
      if (cat === undefined) {
        const frames: Array<Node['callFrame']> = []
        for (let x: number | undefined = id; x !== undefined; x = parent.get(x)) frames.push(byId.get(x)!.callFrame)
        cat = categoryOf(frames)
        cache.set(id, cat)
      }
      out.set(cat, (out.get(cat) ?? 0) + dt / 1000)
    })
  }
  return out
}
