// Benchmark: a mesh of real `sdpeer join` daemons (separate processes on 127.0.0.1, pool key, trust stores, sim
// driver; simulations/cluster/cluster.ts), N = 5 and 20 by default. Prints:
//   - failure detection: SIGKILL one daemon, time until every other daemon has logged it dead (the daemons log each
//     membership change with its wall time, so nothing is polled); p50/p99/max over the runs, false dead notices;
//   - one pool of --vms sim VMs (boot time 0, no storage: hypervisor time excluded) spread over every host, deployed
//     from one peer with --wait: time until all report running, then terminate time;
//   - daemon RSS (/proc/PID/status VmRSS) idle, at the end of the idle window, and each daemon's peak while the
//     deploys run (sampled every 100 ms): median and max over the daemons; and the idle RSS's file-backed part
//     (RssFile: pages of the node binary, shared with every other node process of the host), median;
//   - idle control traffic per peer: bytes the daemon's TCP sockets sent while idle (the kernel's bytes_sent per
//     socket, `ss -tinp`: gossip, probes and announcements, with noise's and yamux's framing), and the daemon's CPU
//     while idle (/proc/PID/stat utime + stime). /proc/PID/io's wchar is no measure of traffic: it also counts log
//     lines and the eventfd writes with which V8's worker thread wakes the main loop (8 bytes each; thousands per
//     second while the memory reducer works under --optimize-for-size).
//
//   npx node simulations/bench/mesh-daemons.ts [--sizes 5,20] [--runs 5] [--vms 100] [--idle-s 10] [--deploys 3] [--entry 0]

import { readFile } from 'node:fs/promises'
import { mkdtemp, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { execa } from 'execa'
import { ApiClient } from '../../node/api/client.ts'
import { poolConfig } from './bench-pool.ts'
import { Cluster } from '../cluster/cluster.ts'
import type { ClusterDaemon } from '../cluster/cluster.ts'

const { values } = parseArgs({
  options: {
    sizes: { type: 'string', default: '5,20' },
    runs: { type: 'string', default: '5' },
    vms: { type: 'string', default: '100' },
    'idle-s': { type: 'string', default: '10' },
    deploys: { type: 'string', default: '3' },
    entry: { type: 'string', default: '0' }
  }
})
const sizes = values.sizes.split(',').map(Number)
const runs = Number(values.runs)
const VMS = Number(values.vms)
const IDLE_S = Number(values['idle-s'])
const DEPLOYS = Number(values.deploys)
/** The daemon the deploys enter at (0: the one every other joined through). */
const ENTRY = Number(values.entry)
if (sizes.some(n => !Number.isSafeInteger(n) || n < 3) || !(runs >= 1) || !(VMS >= 1) || !(IDLE_S > 0) || !(DEPLOYS >= 1)) {
  console.error('usage: mesh-daemons.ts [--sizes 5,20] [--runs 5] [--vms 100] [--idle-s 10] [--deploys 3] [--entry 0]   (sizes >= 3)')
  process.exit(2)
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

async function until (what: string, pred: () => boolean, timeoutMs: number, explain?: () => string): Promise<void> {
  const t0 = Date.now()
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${explain !== undefined ? `: ${explain()}` : ''}`)
    await sleep(20)
  }
}

function pct (sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p / 100 * sorted.length) - 1))]!
}

/** Bytes sent so far by each TCP socket of each pid, keyed by its address pair (`ss -tinp`). */
async function socketBytesSent (pids: number[]): Promise<Map<number, Map<string, number>>> {
  const out = new Map<number, Map<string, number>>(pids.map(p => [p, new Map()]))
  const text = (await execa('ss', ['-tinpH', 'state', 'established'])).stdout
  // One socket: "local peer users:((...pid=N...))" then its info line with bytes_sent:N.
  for (const m of text.matchAll(/(\S+)\s+(\S+)\s+users:\(\("[^"]*",pid=(\d+),fd=\d+\)\)[\s\S]*?(?:bytes_sent:(\d+)|\n\S)/g)) {
    const sockets = out.get(Number(m[3]))
    if (sockets !== undefined) sockets.set(`${m[1]} ${m[2]}`, Number(m[4] ?? 0))
  }
  return out
}

/** Bits per second each pid sent between two socketBytesSent samples (a socket opened in between counts whole). */
function sentKbits (before: Map<number, Map<string, number>>, after: Map<number, Map<string, number>>, pids: number[], seconds: number): number[] {
  return pids.map(pid => {
    let bytes = 0
    for (const [key, b] of after.get(pid) ?? []) bytes += b - (before.get(pid)?.get(key) ?? 0)
    return bytes * 8 / seconds / 1000
  })
}

/** CPU seconds (user + system) the process has used. */
async function cpuSeconds (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

/** A numeric field of a /proc/PID/status text (kB for the memory fields). */
function fieldOf (text: string, key: string): number {
  const m = new RegExp(`^${key}:\\s*(\\d+)`, 'm').exec(text)
  return m === null ? NaN : Number(m[1])
}

async function procField (pid: number, key: string): Promise<number> {
  return fieldOf(await readFile(`/proc/${pid}/status`, 'utf8'), key)
}
const rssMiB = async (d: ClusterDaemon): Promise<number> => (await procField(d.pid!, 'VmRSS')) / 1024
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]! }

const whole = (c: Cluster): boolean => c.live().every(o => c.live().every(s => s === o || o.stateOf(s.peerId) === 'alive'))
/** The pairs that keep a mesh from being whole: observer>subject:state. */
const broken = (c: Cluster): string => c.live().flatMap(o => c.live().filter(s => s !== o && o.stateOf(s.peerId) !== 'alive')
  .map(s => `${o.host}>${s.host}:${o.stateOf(s.peerId) ?? 'unknown'}`)).slice(0, 16).join(' ')


console.log(`mesh of real daemons on 127.0.0.1 (sim driver, pool key), ${runs} SIGKILL runs per N, a ${VMS}-VM pool over all hosts; load average ${loadavg().map(x => x.toFixed(1)).join(' ')}`)
const rows: string[][] = [['N', 'whole ms', 'detect p50', 'detect p99', 'max', 'false dead', 'deploy ms (median)', 'terminate ms (median)', 'RSS idle median/max MiB', '(file)', 'RSS deploy median/max MiB', 'idle kbit/s per peer', 'idle CPU % per peer']]
const dir = await mkdtemp(join(tmpdir(), 'sdpeer-bench-mesh-'))
try {
  for (const n of sizes) {
    const hosts = Array.from({ length: n }, (_, i) => `h${String(i).padStart(2, '0')}.cern.ch`)
    const t0 = Date.now()
    const cluster = await Cluster.start({ hosts: hosts.map(host => ({ host, args: ['--allow-path', 'ro:/boot'] })), batch: 4, startTimeoutMs: 120_000 })
    try {
      await until('mesh whole', () => whole(cluster), 120_000, () => broken(cluster))
      const wholeMs = Date.now() - t0
      await sleep(2000) // let the joins' gossip and announcements settle
      // ---- idle: what each daemon writes, then its RSS ----
      const pids = cluster.daemons.map(d => d.pid!)
      const s0 = await socketBytesSent(pids)
      const c0 = await Promise.all(pids.map(cpuSeconds))
      await sleep(IDLE_S * 1000)
      const s1 = await socketBytesSent(pids)
      const c1 = await Promise.all(pids.map(cpuSeconds))
      const idleRss = await Promise.all(cluster.daemons.map(rssMiB))
      const idleFile = await Promise.all(cluster.daemons.map(async d => (await procField(d.pid!, 'RssFile')) / 1024))
      const kbits = sentKbits(s0, s1, pids, IDLE_S)
      const idleCpu = c1.map((c, i) => (c - c0[i]!) / IDLE_S * 100)
      // ---- deploy ----
      const config = await poolConfig(hosts, VMS, dir)
      const peakRss = cluster.daemons.map(() => 0)
      /** Each daemon's anonymous and file-backed RSS at its peak (MiB). */
      const peakSplit = cluster.daemons.map(() => ({ anon: 0, file: 0 }))
      let sampling = true
      const sampler = (async () => {
        while (sampling) {
          for (const [i, d] of cluster.daemons.entries()) {
            const text = await readFile(`/proc/${d.pid!}/status`, 'utf8').catch(() => '')
            const kib = (key: string): number => (fieldOf(text, key) || 0) / 1024
            if (kib('VmRSS') > peakRss[i]!) { peakRss[i] = kib('VmRSS'); peakSplit[i] = { anon: kib('RssAnon'), file: kib('RssFile') } }
          }
          await sleep(100)
        }
      })()
      const client = await ApiClient.connect(cluster.daemon(ENTRY).api, { operatorKey: cluster.operator.privateKey })
      const deployTimes: number[] = []
      const failedDeploys: string[] = []
      const terminateTimes: number[] = []
      for (let k = 0; k < DEPLOYS; k++) {
        const logFrom = cluster.daemon(ENTRY).stderr().length
        const d0 = performance.now()
        let st
        try {
          st = await client.call('deploy', { pool: `bench${k}`, config, wait: true })
        } catch (err) {
          // A starved machine can time a deploy out: reported with the figures, not a crash that loses them.
          failedDeploys.push(`deploy ${k}: ${(err as Error).message.slice(0, 300)}`)
          continue
        }
        deployTimes.push(performance.now() - d0)
        if (!('components' in st) || st.components.filter(c => c.type === 'XenDomain' && c.state === 'running').length !== VMS) {
          throw new Error(`deploy did not bring ${VMS} VMs to running: ${JSON.stringify(st).slice(0, 400)}`)
        }
        if (deployTimes[k]! > 5000) {
          // An outlier: what the entry peer's coordinator logged meanwhile (phases, retries, unreachable owners).
          const lines = cluster.daemon(ENTRY).stderr().slice(logFrom).split('\n').filter(l => /"component":"mesh"/.test(l) && !/"event"/.test(l))
          console.log(`  slow deploy ${k}: ${deployTimes[k]!.toFixed(0)} ms; entry peer's mesh log:\n    ${lines.slice(0, 12).map(l => l.slice(0, 300)).join('\n    ')}`)
        }
        const e0 = performance.now()
        await client.call('terminate', { pool: `bench${k}`, type: 'normal' })
        terminateTimes.push(performance.now() - e0)
      }
      sampling = false
      await sampler
      client.close()
      for (const f of failedDeploys) console.log(`  N=${n}: FAILED ${f}`)
      if (deployTimes.length === 0) deployTimes.push(NaN)
      if (terminateTimes.length === 0) terminateTimes.push(NaN)
      deployTimes.sort((a, b) => a - b)
      terminateTimes.sort((a, b) => a - b)
      const deployMs = deployTimes[Math.floor(deployTimes.length / 2)]!
      const terminateMs = terminateTimes[Math.floor(terminateTimes.length / 2)]!
      console.log(`  N=${n}: deploy of ${VMS} VMs, ${DEPLOYS} times (ms): ${deployTimes.map(t => t.toFixed(0)).join(', ')}; terminate: ${terminateTimes.map(t => t.toFixed(0)).join(', ')}`)
      // ---- failure detection ----
      const times: number[] = []
      let falseDead = 0
      const falseNotes: string[] = []
      let aborted = ''
      for (let r = 0; r < runs && aborted === ''; r++) {
        try {
          const victim = cluster.daemon(1 + (r * 7) % (n - 1))
          const others = cluster.live().filter(d => d !== victim)
          const marks = others.map(o => o.events.length)
          const killedAt = cluster.kill(victim.index, 'SIGKILL')
          await cluster.exited(victim.index)
          await until(`all peers to say ${victim.host} dead`, () => others.every(o => o.stateOf(victim.peerId) === 'dead'), 60_000)
          const detected = others.map(o => o.events.find((e, k) => k >= marks[others.indexOf(o)]! && e.peer === victim.peerId && e.event === 'dead')?.at ?? Infinity)
          times.push(Math.max(...detected) - killedAt)
          const hostOf = (id: string): string => cluster.daemons.find(d => d.peerId === id)?.host ?? id
          others.forEach((o, k) => {
            for (const e of o.events.slice(marks[k]).filter(e => e.event === 'dead' && e.peer !== victim.peerId)) {
              falseDead++
              falseNotes.push(`run ${r}: ${o.host} said ${hostOf(e.peer)} dead ${e.at - killedAt} ms after the kill`)
            }
          })
          await cluster.restart(victim.index)
          await until('mesh whole again', () => whole(cluster), 60_000, () => broken(cluster))
          await sleep(500)
        } catch (err) {
          // A starved machine can leave the mesh flapping: report what was measured and why it stopped.
          aborted = `run ${r}: ${(err as Error).message.slice(0, 600)}`
        }
      }
      if (aborted !== '') console.log(`  N=${n}: detection runs stopped early: ${aborted}`)
      times.sort((a, b) => a - b)
      if (times.length === 0) times.push(NaN)
      const mean = (xs: number[]): number => xs.reduce((a, b) => a + b, 0) / xs.length
      rows.push([String(n), String(wholeMs), `${pct(times, 50)} ms`, `${pct(times, 99)} ms`, `${times[times.length - 1]} ms`, String(falseDead),
        deployMs.toFixed(0), terminateMs.toFixed(0), `${median(idleRss).toFixed(1)}/${Math.max(...idleRss).toFixed(1)}`, median(idleFile).toFixed(1),
        `${median(peakRss).toFixed(1)}/${Math.max(...peakRss).toFixed(1)}`,
        `${mean(kbits).toFixed(1)} (max ${Math.max(...kbits).toFixed(1)})`, `${median(idleCpu).toFixed(1)} (max ${Math.max(...idleCpu).toFixed(1)})`])
      // Printed now too: a later size that cannot finish on a starved machine must not lose this one.
      console.log(`  N=${n}: ${rows[0]!.map((h, i) => `${h}: ${rows[rows.length - 1]![i]}`).join('; ')}`)
      console.log(`  N=${n}: whole after ${wholeMs} ms; detection runs (ms): ${times.join(', ')}; load average now ${loadavg().map(x => x.toFixed(1)).join(' ')}`)
      // cli/heap-trim.ts logs each trim with its pause: how often the daemons paused for it, and for how long.
      const pauses = cluster.daemons.flatMap(d => [...d.stderr().matchAll(/"pauseMs":(\d+),"msg":"heap trimmed"/g)].map(m => Number(m[1])))
      const peaks = cluster.daemons.map((d, i) => ({ host: d.host, mib: peakRss[i]!, ...peakSplit[i]! })).sort((a, b) => b.mib - a.mib)
      console.log(`  N=${n}: highest RSS under deploy (the deploys enter at ${cluster.daemon(ENTRY).host}): ${peaks.slice(0, 4).map(p => `${p.host} ${p.mib.toFixed(1)} (anon ${p.anon.toFixed(1)}, file ${p.file.toFixed(1)})`).join(', ')} MiB`)
      console.log(`  N=${n}: heap trims ${pauses.length} (${(pauses.length / n).toFixed(1)} per daemon), pause median ${pauses.length > 0 ? median(pauses) : '-'} ms, max ${pauses.length > 0 ? Math.max(...pauses) : '-'} ms`)
      for (const note of falseNotes.slice(0, 10)) console.log(`    false dead: ${note}`)
    } finally {
      await cluster.stop()
    }
  }
} finally {
  await rm(dir, { recursive: true, force: true })
}
const widths = rows[0]!.map((_, i) => Math.max(...rows.map(r => r[i]!.length)))
for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  '))
