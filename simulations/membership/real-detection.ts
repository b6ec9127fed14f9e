// Failure detection with real peers: N mesh peers as separate processes on 127.0.0.1 (libp2p over TCP, default
// membership settings). Each run SIGKILLs one peer and times until every other peer reports it dead, then
// restarts it (same state dir, same peer id) and waits until the mesh is whole again. Prints p50/p99/max.
//
// With --inproc the peers share this process (one Node runtime) instead: for small, loaded machines.
//
//   npx node simulations/membership/real-detection.ts [--sizes 5,20] [--runs 10] [--inproc]

import { parseArgs } from 'node:util'
import { InprocMesh } from './inproc-mesh.ts'
import { ProcessMesh } from './process-mesh.ts'
import type { PeerEvent } from './process-mesh.ts'

interface Peer { host: string, peerId: string, addrs: string[], events: PeerEvent[] }
interface Mesh<P extends Peer> {
  spawn: (host: string, bootstrap?: string[]) => Promise<P>
  statusOf: (o: P, s: P) => string | undefined
  live: () => P[]
  kill: (p: P) => number
  close: () => Promise<void>
}

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '5,20' }, runs: { type: 'string', default: '10' }, inproc: { type: 'boolean', default: false } } })
const runs = Number(values.runs)

async function until (what: string, pred: () => boolean, timeoutMs: number, explain?: () => string): Promise<void> {
  const start = Date.now()
  while (!pred()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out waiting for ${what}${explain != null ? `: ${explain()}` : ''}`)
    await new Promise(resolve => setTimeout(resolve, 20))
  }
}

function pct (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)]
}

console.log(values.inproc
  ? `real failure detection: peers in one process on 127.0.0.1 (stopped without a word), ${runs} runs per N`
  : `real failure detection: peers as processes on 127.0.0.1, SIGKILL, ${runs} runs per N`)
console.log('N    detect p50  detect p99  max       false dead notices')
for (const n of values.sizes.split(',').map(Number)) {
  const mesh: Mesh<Peer> = values.inproc ? new InprocMesh() as unknown as Mesh<Peer> : new ProcessMesh() as unknown as Mesh<Peer>
  try {
    const first = await mesh.spawn('h00.cern.ch')
    // In batches of four: all at once would starve a small machine, one by one takes long.
    for (let i = 1; i < n; i += 4) {
      await Promise.all(Array.from({ length: Math.min(4, n - i) }, async (_, j) => await mesh.spawn(`h${String(i + j).padStart(2, '0')}.cern.ch`, [first.addrs[0]])))
    }
    const whole = (): boolean => mesh.live().every(o => mesh.live().every(s => s === o || mesh.statusOf(o, s) === 'alive'))
    const broken = (): string => mesh.live().flatMap(o => mesh.live().filter(s => s !== o && mesh.statusOf(o, s) !== 'alive')
      .map(s => `${o.host}>${s.host}:${mesh.statusOf(o, s) ?? 'unknown'}`)).slice(0, 12).join(' ')
    const t0 = Date.now()
    await until('mesh whole', whole, 120_000, broken)
    console.log(`     N=${n}: whole ${Date.now() - t0} ms after the last peer started`)
    const times: number[] = []
    let falseDead = 0
    for (let r = 0; r < runs; r++) {
      const victim = mesh.live()[1 + (r * 7) % (n - 1)]
      const others = mesh.live().filter(p => p !== victim)
      const killedAt = mesh.kill(victim)
      await until('victim dead everywhere', () => others.every(o => mesh.statusOf(o, victim) === 'dead'), 60_000)
      const at = (o: Peer): number => o.events.findLast(e => e.event === 'dead' && e.peer === victim.peerId)?.at ?? NaN
      times.push(Math.max(...others.map(at)) - killedAt)
      // A dead notice about anyone but the victim during the run is a false positive.
      falseDead += others.reduce((s, o) => s + o.events.filter(e => e.event === 'dead' && e.peer !== victim.peerId && e.at >= killedAt).length, 0)
      await mesh.spawn(victim.host, [others[0].addrs[0]])
      await until('mesh whole again', whole, 60_000, broken)
    }
    times.sort((a, b) => a - b)
    console.log(`${String(n).padEnd(4)} ${(pct(times, 50) / 1000).toFixed(2)} s      ${(pct(times, 99) / 1000).toFixed(2)} s      ${(times[times.length - 1] / 1000).toFixed(2)} s    ${falseDead}`)
    console.log(`     all runs (ms): ${times.join(' ')}`)
  } finally {
    await mesh.close()
  }
}
