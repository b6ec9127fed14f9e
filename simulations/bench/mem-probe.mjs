// Loaded into each daemon by simulations/bench/mesh-memory.ts (NODE_OPTIONS=--import=...): answers signals with
// what `ps` cannot say. Plain JS so that it costs no TypeScript stripping. Measurement only, never in production.
//   SIGWINCH: writes DIR/PID.json: process.memoryUsage(), V8 heap and space statistics, live handles by kind,
//             /proc/self/smaps_rollup, and the same memory figures again after a full GC (when gc is exposed)
//   SIGTTIN:  writes DIR/PID.quick.json: the same memory figures, without the GC (cheap enough to sample a deploy)
//   SIGURG:   writes DIR/PID.heapsnapshot
//   SIGUSR2:  starts V8's sampling heap profiler, counting objects the collector has already freed as well (what a
//             piece of work allocates, not what it keeps); the next SIGUSR2 writes DIR/PID.heapprofile
import { readFileSync, writeFileSync, renameSync } from 'node:fs'
import v8 from 'node:v8'
import { Session } from 'node:inspector'

const dir = process.env.SDPEER_MEM_PROBE_DIR
if (dir !== undefined) {
  const figures = (withMappings = true) => ({
    mem: process.memoryUsage(),
    heap: v8.getHeapStatistics(),
    spaces: v8.getHeapSpaceStatistics().map(s => ({ name: s.space_name, size: s.space_size, used: s.space_used_size })),
    smaps: readFileSync('/proc/self/smaps_rollup', 'utf8'),
    ...(withMappings ? { mappings: anonMappings() } : {})
  })
  // Resident KiB of the main malloc arena ([heap], brk), of the other anonymous mappings (V8's pages, malloc's
  // mmapped chunks and thread arenas, stacks) and how many of those there are.
  const anonMappings = () => {
    const out = { brkKiB: 0, otherAnonKiB: 0, otherAnonCount: 0 }
    let kind = ''
    for (const line of readFileSync('/proc/self/smaps', 'utf8').split('\n')) {
      const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line)
      if (head !== null) { kind = head[1] === '[heap]' ? 'brk' : head[1] === '' ? 'anon' : 'file'; if (kind === 'anon') out.otherAnonCount++; continue }
      const rss = /^Rss:\s+(\d+)/.exec(line)
      if (rss === null) continue
      if (kind === 'brk') out.brkKiB += Number(rss[1]); else if (kind === 'anon') out.otherAnonKiB += Number(rss[1])
    }
    return out
  }
  const write = (path, text) => { writeFileSync(path + '.tmp', text); renameSync(path + '.tmp', path) }
  process.on('SIGWINCH', () => {
    const resources = {}
    for (const r of process.getActiveResourcesInfo()) resources[r] = (resources[r] ?? 0) + 1
    const before = figures()
    let afterGc
    if (typeof globalThis.gc === 'function') { globalThis.gc(); afterGc = figures() }
    write(`${dir}/${process.pid}.json`, JSON.stringify({ pid: process.pid, resources, before, afterGc }))
  })
  // Sampled every ~150 ms during a deploy: /proc/self/smaps (for the mappings) is left out, it costs more than the rest.
  process.on('SIGTTIN', () => {
    const before = { ...figures(false), mappings: { brkKiB: NaN, otherAnonKiB: NaN, otherAnonCount: NaN } }
    write(`${dir}/${process.pid}.quick.json`, JSON.stringify({ pid: process.pid, resources: {}, before }))
  })
  let session
  process.on('SIGUSR2', () => {
    if (session === undefined) {
      session = new Session()
      session.connect()
      session.post('HeapProfiler.startSampling', { samplingInterval: 8192, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: true })
      return
    }
    const s = session
    session = undefined
    s.post('HeapProfiler.stopSampling', (err, r) => {
      if (err == null) write(`${dir}/${process.pid}.heapprofile`, JSON.stringify(r.profile))
      s.disconnect()
    })
  })
  process.on('SIGURG', () => { v8.writeHeapSnapshot(`${dir}/${process.pid}.heapsnapshot.tmp`); renameSync(`${dir}/${process.pid}.heapsnapshot.tmp`, `${dir}/${process.pid}.heapsnapshot`) })
}
