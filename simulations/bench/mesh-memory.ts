// Where a mesh daemon's memory goes, and how it grows with the mesh: starts real `sdpeer join` daemons
// (simulations/cluster/cluster.ts) at each N, lets them idle, then asks every daemon (simulations/bench/mem-probe.mjs,
// loaded through NODE_OPTIONS) for process.memoryUsage(), V8's heap spaces and /proc/self/smaps_rollup, before and
// after a full GC, and writes one daemon's heap snapshot. Prints medians over the daemons per N, then the per-peer
// growth between the first and last N: of each figure, and of the heap snapshot's self size by constructor.
//
// --deploy VMS: then deploys a pool of VMS sim VMs over every host from the first daemon (the entry peer) and
// terminates it, --rounds times (default 3, as mesh-daemons.ts does), sampling the entry peer's memory every ~150 ms
// throughout; probes every daemon again while the last pool runs; prints the entry peer's figures (idle, deployed,
// highest sample) and the others' median; with --profile-deploy, what the entry peer allocated over the rounds (freed
// or not: V8's sampling heap profiler, by module and function). --profile-idle S: that profile of one idle daemon.
//
//   npx node simulations/bench/mesh-memory.ts [--sizes 5,20] [--idle-s 20] [--top 25] [--keep DIR] [--env NAME=VALUE]... [--deploy VMS [--rounds 3] [--profile-deploy]] [--profile-idle S]

import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { ApiClient } from '../../node/api/client.ts'
import { Cluster } from '../cluster/cluster.ts'
import { poolConfig } from './bench-pool.ts'
import { printAllocations } from './alloc-profile.ts'
import type { SamplingProfile } from './alloc-profile.ts'
import { summarise } from '../membership/heap-summary.ts'
import type { HeapRow } from '../membership/heap-summary.ts'

const { values } = parseArgs({ options: { sizes: { type: 'string', default: '5,20' }, 'idle-s': { type: 'string', default: '20' }, top: { type: 'string', default: '25' }, keep: { type: 'string' }, env: { type: 'string', multiple: true, default: [] }, deploy: { type: 'string' }, 'profile-idle': { type: 'string' }, 'profile-deploy': { type: 'boolean', default: false }, rounds: { type: 'string', default: '3' } } })
/** --env NAME=VALUE: added to every daemon's environment (malloc settings, to compare). */
const extraEnv = Object.fromEntries(values.env.map(e => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]))
const sizes = values.sizes.split(',').map(Number)
const IDLE_S = Number(values['idle-s'])
const DEPLOY_VMS = values.deploy === undefined ? 0 : Number(values.deploy)
const DEPLOY_ROUNDS = Number(values.rounds)
const PROFILE_IDLE_S = values['profile-idle'] === undefined ? 0 : Number(values['profile-idle'])
if (sizes.some(n => !Number.isSafeInteger(n) || n < 2) || !(IDLE_S > 0) || !Number.isSafeInteger(DEPLOY_VMS) || DEPLOY_VMS < 0 || !Number.isSafeInteger(DEPLOY_ROUNDS) || DEPLOY_ROUNDS < 1) {
  console.error('usage: mesh-memory.ts [--sizes 5,20] [--idle-s 20] [--top 25] [--keep DIR] [--env NAME=VALUE]... [--deploy VMS [--rounds 3] [--profile-deploy]] [--profile-idle S]')
  process.exit(2)
}
const PROBE = fileURLToPath(new URL('./mem-probe.mjs', import.meta.url))
const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }
const MiB = (b: number): number => b / 1048576
const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor((s.length - 1) / 2)]! }

interface Figures { mem: NodeJS.MemoryUsage, spaces: Array<{ name: string, size: number, used: number }>, smaps: string, mappings: { brkKiB: number, otherAnonKiB: number, otherAnonCount: number } }
interface Probe { pid: number, resources: Record<string, number>, before: Figures, afterGc?: Figures }

/** The figures one probe gives, flat, in MiB (counts as they are). */
function flat (p: Probe): Record<string, number> {
  const out: Record<string, number> = {}
  const kib = (f: Figures, key: string): number => Number(new RegExp(`^${key}:\\s*(\\d+)`, 'm').exec(f.smaps)?.[1] ?? NaN) / 1024
  for (const [tag, f] of [['', p.before], ['gc:', p.afterGc]] as const) {
    if (f === undefined) continue
    out[`${tag}rss`] = kib(f, 'Rss')
    out[`${tag}rss anon`] = kib(f, 'Anonymous')
    out[`${tag}rss file`] = kib(f, 'Rss') - kib(f, 'Anonymous')
    out[`${tag}heapTotal`] = MiB(f.mem.heapTotal)
    out[`${tag}heapUsed`] = MiB(f.mem.heapUsed)
    out[`${tag}external`] = MiB(f.mem.external)
    out[`${tag}arrayBuffers`] = MiB(f.mem.arrayBuffers)
    out[`${tag}anon outside V8 heap`] = kib(f, 'Anonymous') - MiB(f.mem.heapTotal)
    out[`${tag}malloc main arena (brk)`] = f.mappings.brkKiB / 1024
    out[`${tag}other anon mappings`] = f.mappings.otherAnonKiB / 1024
    for (const s of f.spaces.filter(s => s.size > 0)) {
      out[`${tag}${s.name.replace(/_space$/, '')} size`] = MiB(s.size)
      out[`${tag}${s.name.replace(/_space$/, '')} used`] = MiB(s.used)
    }
  }
  out['TCP sockets'] = p.resources.TCPSocketWrap ?? 0
  out['timers'] = p.resources.Timeout ?? 0
  return out
}

/** Every daemon's probe figures, now. */
async function probeAll (cluster: Cluster, dir: string): Promise<Probe[]> {
  for (const d of cluster.daemons) await rm(join(dir, `${d.pid!}.json`), { force: true })
  for (const d of cluster.daemons) process.kill(d.pid!, 'SIGWINCH')
  const probes: Probe[] = []
  for (const d of cluster.daemons) {
    await waitFor(join(dir, `${d.pid!}.json`), 30_000)
    probes.push(JSON.parse(await readFile(join(dir, `${d.pid!}.json`), 'utf8')) as Probe)
  }
  return probes
}

/** --deploy: the pool deployed from the first daemon, every daemon probed while it runs, then terminated. */
async function deployAndProbe (cluster: Cluster, hosts: string[], dir: string, idle: Probe[]): Promise<void> {
  const client = await ApiClient.connect(cluster.daemon(0).api, { operatorKey: cluster.operator.privateKey })
  try {
    const config = await poolConfig(hosts, DEPLOY_VMS, dir)
    const entry = cluster.daemon(0).pid!
    const quick = join(dir, `${entry}.quick.json`)
    // The entry peer sampled every ~150 ms while the deploy runs (no GC): the sample with the highest RSS is kept.
    let peak: Probe | undefined
    let sampling = true
    const sampler = (async () => {
      while (sampling) {
        await rm(quick, { force: true })
        process.kill(entry, 'SIGTTIN')
        await waitFor(quick, 10_000)
        const p = JSON.parse(await readFile(quick, 'utf8')) as Probe
        if (peak === undefined || flat(p).rss! > flat(peak).rss!) peak = p
        await sleep(150)
      }
    })()
    const times: number[] = []
    let deployed: Probe[] = []
    // Allocation sampling on, for the rounds (--profile-deploy: the profiler's own records are off-heap memory).
    if (values['profile-deploy']) process.kill(entry, 'SIGUSR2')
    try {
      for (let k = 0; k < DEPLOY_ROUNDS; k++) {
        const t0 = performance.now()
        await client.call('deploy', { pool: `membench${k}`, config, wait: true })
        times.push(performance.now() - t0)
        if (k === DEPLOY_ROUNDS - 1) deployed = await probeAll(cluster, dir)
        await client.call('terminate', { pool: `membench${k}`, type: 'normal' })
      }
    } finally { sampling = false; await sampler }
    if (values['profile-deploy']) {
      process.kill(entry, 'SIGUSR2')
      const profile = join(dir, `${entry}.heapprofile`)
      await waitFor(profile, 30_000)
      console.log('    what the entry peer allocated over the rounds:')
      printAllocations(JSON.parse(await readFile(profile, 'utf8')) as SamplingProfile, 4)
    }
    const ms = times.map(t => t.toFixed(0)).join(', ')
    const keys = ['rss', 'rss anon', 'rss file', 'heapTotal', 'heapUsed', 'anon outside V8 heap', 'external', 'arrayBuffers', 'code size', 'trusted size', 'old size', 'large_object size', 'gc:heapUsed', 'gc:arrayBuffers', 'gc:anon outside V8 heap', 'gc:rss']
    const [e0, e1] = [flat(idle[0]!), flat(deployed[0]!)]
    const rest = (ps: Probe[]): Record<string, number> => { const per = ps.slice(1).map(flat); return Object.fromEntries(keys.map(k => [k, median(per.map(f => f[k]!))])) }
    const [r0, r1] = [rest(idle), rest(deployed)]
    console.log(`  N=${cluster.daemons.length}: ${DEPLOY_ROUNDS} x (${DEPLOY_VMS}-VM deploy from ${cluster.daemon(0).host}, terminate); deploys took ${ms} ms; MiB idle -> the last deploy running (before a GC, "gc:" after one); the entry peer's highest sample over the deploys and terminates:`)
    const ep = peak === undefined ? undefined : flat(peak)
    for (const k of keys) {
      const atPeak = ep?.[k] === undefined ? '' : `   at its sampled peak ${ep[k].toFixed(2).padStart(7)}`
      console.log(`    ${k.padEnd(24)} entry peer ${e0[k]!.toFixed(2).padStart(7)} -> ${e1[k]!.toFixed(2).padStart(7)}${atPeak}   others' median ${r0[k]!.toFixed(2).padStart(7)} -> ${r1[k]!.toFixed(2).padStart(7)}`)
    }
  } finally { client.close() }
}

async function waitFor (path: string, timeoutMs: number): Promise<void> {
  const t0 = Date.now()
  while (!existsSync(path)) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`no ${path} after ${timeoutMs} ms`)
    await sleep(50)
  }
}

console.log(`mesh-memory: real daemons, idle ${IDLE_S} s after the mesh is whole${values.env.length > 0 ? `, ${values.env.join(' ')}` : ''}; load average ${loadavg().map(x => x.toFixed(1)).join(' ')}`)
const results: Array<{ n: number, figures: Record<string, number>, heap: HeapRow[] }> = []
const probeDir = values.keep ?? await mkdtemp(join(tmpdir(), 'sdpeer-mem-'))
try {
  for (const n of sizes) {
    const dir = join(probeDir, `n${n}`)
    await mkdir(dir, { recursive: true })
    const hosts = Array.from({ length: n }, (_, i) => `h${String(i).padStart(2, '0')}.cern.ch`)
    const cluster = await Cluster.start({
      hosts: hosts.map(host => ({ host, args: ['--allow-path', 'ro:/boot'] })),
      env: { ...extraEnv, NODE_OPTIONS: `--import=${PROBE}`, SDPEER_MEM_PROBE_DIR: dir },
      batch: 4,
      startTimeoutMs: 120_000
    })
    try {
      const whole = (): boolean => cluster.live().every(o => cluster.live().every(s => s === o || o.stateOf(s.peerId) === 'alive'))
      const broken = (): string => cluster.live().flatMap(o => cluster.live().filter(s => s !== o && o.stateOf(s.peerId) !== 'alive')
        .map(s => `${o.host}>${s.host}:${o.stateOf(s.peerId) ?? 'unknown'}`)).slice(0, 16).join(' ')
      for (const t0 = Date.now(); !whole(); await sleep(100)) if (Date.now() - t0 > 240_000) throw new Error(`mesh not whole after 240 s: ${broken()}`)
      await sleep(IDLE_S * 1000)
      const probes = await probeAll(cluster, dir)
      if (PROFILE_IDLE_S > 0) {
        // What one idle daemon (not the bootstrap peer) allocates, freed or not, over PROFILE_IDLE_S seconds.
        const d = cluster.daemon(Math.min(2, n - 1))
        process.kill(d.pid!, 'SIGUSR2')
        await sleep(PROFILE_IDLE_S * 1000)
        process.kill(d.pid!, 'SIGUSR2')
        await waitFor(join(dir, `${d.pid!}.heapprofile`), 30_000)
        console.log(`  N=${n}: ${d.host} idle for ${PROFILE_IDLE_S} s:`)
        printAllocations(JSON.parse(await readFile(join(dir, `${d.pid!}.heapprofile`), 'utf8')) as SamplingProfile)
        await rm(join(dir, `${d.pid!}.heapprofile`))
      }
      if (DEPLOY_VMS > 0) await deployAndProbe(cluster, hosts, dir, probes)
      // One daemon other than the bootstrap peer, whose heap is the median's.
      const pick = cluster.daemon(Math.min(2, n - 1))
      process.kill(pick.pid!, 'SIGURG')
      const snap = join(dir, `${pick.pid!}.heapsnapshot`)
      await waitFor(snap, 60_000)
      const heap = summarise(JSON.parse(await readFile(snap, 'utf8')))
      const per = probes.map(flat)
      const figures: Record<string, number> = {}
      for (const k of Object.keys(per[0]!)) figures[k] = median(per.map(f => f[k]!))
      results.push({ n, figures, heap })
      console.log(`  N=${n}: load average ${loadavg().map(x => x.toFixed(1)).join(' ')}; RSS per daemon (MiB): ${per.map(f => f.rss!.toFixed(1)).join(' ')}`)
    } finally {
      await cluster.stop()
    }
  }
} finally {
  if (values.keep === undefined) await rm(probeDir, { recursive: true, force: true })
}

const first = results[0]!
const last = results[results.length - 1]!
const peers = last.n - first.n
const isCount = (k: string): boolean => k === 'TCP sockets' || k === 'timers'
const fmt = (k: string, v: number): string => isCount(k) ? v.toFixed(0) : v.toFixed(2)
console.log(`\nmedian over the daemons (MiB; "gc:" after a full GC; V8 heap spaces: size and used)`)
console.log(['figure'.padEnd(34), ...results.map(r => `N=${r.n}`.padStart(16)), peers > 0 ? `per peer (KiB)`.padStart(16) : ''].join(''))
for (const k of Object.keys(first.figures)) {
  const per = (last.figures[k]! - first.figures[k]!) / peers
  const unit = isCount(k) ? per.toFixed(2) : (per * 1024).toFixed(0)
  console.log([k.padEnd(34), ...results.map(r => fmt(k, r.figures[k]!).padStart(16)), peers > 0 ? unit.padStart(16) : ''].join(''))
}
if (peers > 0) {
  const a = new Map(first.heap.map(r => [r.name, r]))
  const deltas = last.heap.map(r => ({ name: r.name, bytes: r.selfBytes - (a.get(r.name)?.selfBytes ?? 0), count: r.count - (a.get(r.name)?.count ?? 0) }))
    .sort((x, y) => y.bytes - x.bytes)
  const total = (h: HeapRow[]): number => h.reduce((s, r) => s + r.selfBytes, 0)
  console.log(`\nheap snapshot of one daemon: ${MiB(total(first.heap)).toFixed(2)} MiB live at N=${first.n}, ${MiB(total(last.heap)).toFixed(2)} at N=${last.n}: ${((total(last.heap) - total(first.heap)) / peers / 1024).toFixed(0)} KiB per peer; largest growth (self size by constructor):`)
  for (const d of deltas.slice(0, Number(values.top))) {
    console.log(`${(d.bytes / peers / 1024).toFixed(1).padStart(8)} KiB/peer ${String(d.count).padStart(7)} objects  ${d.name}`)
  }
}
