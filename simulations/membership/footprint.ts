// Idle footprint of real mesh peers: N peers as separate processes on 127.0.0.1 (simulations/membership/mesh-peer.ts,
// libp2p over TCP, default settings), all joining through the first one. Prints how long until every peer's host
// directory is complete, then, after an idle window, each peer's resident memory (VmRSS from /proc) and its control
// traffic (bytes read and written by the process, from /proc/PID/io: on an idle peer that is its sockets, plus
// the one stats line it prints at the end).
//
//   npx node simulations/membership/footprint.ts [--n 20] [--idle 60] [--node-args=--max-semi-space-size=1]

import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { summarise } from './heap-summary.ts'
import { ProcessMesh } from './process-mesh.ts'
import type { PeerProcess } from './process-mesh.ts'

const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '20' },
    idle: { type: 'string', default: '60' },
    'node-args': { type: 'string', default: '' },
    'stats-every': { type: 'string', default: '0' },
    /** Also write a heap snapshot of one peer after the idle window, and summarise it. */
    snapshot: { type: 'boolean', default: false }
  }
})
const n = Number(values.n)
const idleMs = Number(values.idle) * 1000
const nodeArgs = values['node-args'].split(/\s+/).filter(a => a !== '')

async function procStatus (pid: number): Promise<{ rssKb: number, hwmKb: number }> {
  const s = await readFile(`/proc/${pid}/status`, 'utf8')
  const kb = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? NaN)
  return { rssKb: kb('VmRSS'), hwmKb: kb('VmHWM') }
}

async function procIo (pid: number): Promise<{ read: number, written: number }> {
  const s = await readFile(`/proc/${pid}/io`, 'utf8')
  const v = (k: string): number => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(s)?.[1] ?? NaN)
  return { read: v('rchar'), written: v('wchar') }
}

async function until (what: string, pred: () => boolean, timeoutMs: number, explain: () => string): Promise<number> {
  const start = Date.now()
  while (!pred()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}: ${explain()}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return Date.now() - start
}

function pct (values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b)
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))]
}

const mesh = new ProcessMesh()
const pidOf = (p: PeerProcess): number => p.proc.pid as number
try {
  console.log(`mesh footprint: ${n} peers as processes on 127.0.0.1, node args [${nodeArgs.join(' ')}], idle ${idleMs / 1000} s`)
  const spawnOpts = { nodeArgs, ...(Number(values['stats-every']) > 0 ? { statsEveryMs: Number(values['stats-every']) } : {}) }
  const first = await mesh.spawn('h00.cern.ch', [], spawnOpts)
  const t0 = Date.now()
  // In batches of four: all at once would starve a small machine, one by one takes long.
  for (let i = 1; i < n; i += 4) {
    await Promise.all(Array.from({ length: Math.min(4, n - i) }, async (_, j) =>
      await mesh.spawn(`h${String(i + j).padStart(2, '0')}.cern.ch`, [first.addrs[0]], spawnOpts)))
  }
  const started = Date.now()
  console.log(`started ${n} peers in ${started - t0} ms`)
  const whole = (): boolean => mesh.peers.every(o => mesh.peers.every(s => s === o || mesh.statusOf(o, s) === 'alive'))
  const complete = (): boolean => mesh.peers.every(p => p.directorySize === n)
  const sizes = (): string => mesh.peers.map(p => `${p.host}:${p.directorySize}`).join(' ')
  const broken = (): string => mesh.peers.flatMap(o => mesh.peers.filter(s => s !== o && mesh.statusOf(o, s) !== 'alive')
    .map(s => `${o.host}>${s.host}:${mesh.statusOf(o, s) ?? 'unknown'}`)).slice(0, 12).join(' ')
  // On a machine loaded by others a member may be suspect for a moment when we look: reported, not fatal.
  let wholeMs: number | string
  try { wholeMs = await until('membership whole', whole, 90_000, broken) } catch (err) { wholeMs = `NOT YET (${(err as Error).message})` }
  let completeMs: number | string
  try { completeMs = await until('directories complete', complete, 60_000, sizes) } catch (err) { completeMs = `NEVER (${(err as Error).message})` }
  console.log(`membership whole ${wholeMs} ms after the last peer started; every directory complete (${n}/${n}) ${completeMs} ms after that`)
  console.log(`directory complete per peer after the last start, ms: p50 ${pct(mesh.peers.map(p => Math.max(0, p.directoryAt - started)), 50)}, max ${Math.max(...mesh.peers.map(p => p.directoryAt - started))}`)

  // Let start-up garbage settle, then measure an idle window.
  await new Promise(resolve => setTimeout(resolve, 5_000))
  const before = await Promise.all(mesh.peers.map(async p => await procIo(pidOf(p))))
  const tIdle = Date.now()
  await new Promise(resolve => setTimeout(resolve, idleMs))
  const after = await Promise.all(mesh.peers.map(async p => await procIo(pidOf(p))))
  const seconds = (Date.now() - tIdle) / 1000
  const mem = await Promise.all(mesh.peers.map(async p => await procStatus(pidOf(p))))
  const churn = mesh.peers.reduce((s, p) => s + p.events.filter(e => e.at >= tIdle && (e.event === 'suspect' || e.event === 'dead')).length, 0)
  console.log(`during the idle window: ${churn} suspect/dead notices in all (false: nobody was stopped), load average ${(await readFile('/proc/loadavg', 'utf8')).split(' ').slice(0, 3).join(' ')}`)
  const kbitIn = after.map((a, i) => (a.read - before[i].read) * 8 / 1000 / seconds)
  const kbitOut = after.map((a, i) => (a.written - before[i].written) * 8 / 1000 / seconds)
  const mib = (kb: number): string => (kb / 1024).toFixed(1)
  const rss = mem.map(m => m.rssKb)
  console.log(`idle RSS per peer (MiB): min ${mib(Math.min(...rss))}  p50 ${mib(pct(rss, 50))}  max ${mib(Math.max(...rss))}; peak (VmHWM) max ${mib(Math.max(...mem.map(m => m.hwmKb)))}`)
  console.log(`idle control traffic per peer (kbit/s): in p50 ${pct(kbitIn, 50).toFixed(1)} max ${Math.max(...kbitIn).toFixed(1)}; out p50 ${pct(kbitOut, 50).toFixed(1)} max ${Math.max(...kbitOut).toFixed(1)}; in+out max ${Math.max(...kbitIn.map((k, i) => k + kbitOut[i])).toFixed(1)}`)
  const withStats = mesh.peers.filter(p => p.stats != null)
  if (withStats.length > 0) {
    const s = withStats[0].stats!
    const m = (b: number): string => (b / 1048576).toFixed(1)
    console.log(`${withStats[0].host} (process.memoryUsage): rss ${m(s.mem.rss)} heapTotal ${m(s.mem.heapTotal)} heapUsed ${m(s.mem.heapUsed)} external ${m(s.mem.external)} arrayBuffers ${m(s.mem.arrayBuffers)} MiB; ${s.connections} connections`)
    console.log(`  heap spaces used (KiB): ${Object.entries(s.heap).map(([k, v]) => `${k} ${v}`).join(', ')}`)
  }
  if (values.snapshot) {
    const p = mesh.peers[1]
    p.proc.kill('SIGUSR2')
    await until('heap snapshot', () => p.events.some(e => e.event === 'heap-snapshot'), 60_000, () => 'none')
    const file = (p.events.find(e => e.event === 'heap-snapshot') as unknown as { file: string }).file
    const rows = summarise(JSON.parse(await readFile(file, 'utf8')))
    console.log(`${p.host} heap snapshot: ${(rows.reduce((s, r) => s + r.selfBytes, 0) / 1048576).toFixed(1)} MiB live; largest by constructor (KiB, count):`)
    console.log('  ' + rows.slice(0, 24).map(r => `${r.name} ${(r.selfBytes / 1024).toFixed(0)} (${r.count})`).join(', '))
  }
} finally {
  await mesh.close()
}
