import { existsSync } from 'node:fs'
import module from 'node:module'

// How `sdpeer join` gets its process: cli/sdpeer.js re-executes itself once (process.execve: same pid, so a service
// manager's or the cluster harness's signals still reach the daemon) with the node flags and allocator below, which
// only take effect at process start. Measured with simulations/bench/mesh-memory.ts and mesh-daemons.ts (BENCHMARKS.md,
// Mesh → Memory; a 20-daemon mesh, idle RSS median per daemon):
// - `--optimize-for-size`: lets V8's memory reducer compact and hand back the heap's fragmented pages on an idle
//   daemon (heap committed 37 → 27 MiB; without it the reducer never fires: allocation counts as "high").
//   `--heap-growing-percent=5`: the old generation grows 5% past its live size before the next full collection, so
//   a burst of deploys leaves less garbage resident (the entry peer of three 100-VM deploys: ~106 → ~102 MiB). Both
//   slow bulk data work, so image transfers set V8's defaults while they run (node/seams/memory-mode.ts).
// - `--max-opt=1`: Ignition and Sparkplug only, no Maglev or TurboFan: −4 MiB (compiler zones, optimised code and
//   the compilers' own pages of the node binary) for ~8% of image-transfer throughput, idle CPU 1.3 → 2.5% per
//   daemon at N = 20, and 2.7 ms of the daemon's CPU per sim VM deployed (simulations/bench/host-deploy.ts; 2.3
//   before): the daemon's steady work is small messages.
// - `--max-semi-space-size=1`: the young generation's semi-spaces stay at 1 MiB (the #! line's 2 is for `check`);
//   the daemon's allocation is steady and small, so scavenges stay cheap.
// - `--v8-pool-size=1`: one V8 worker thread instead of one per core.
// - `--expose-gc`: for cli/heap-trim.ts, which hands the heap's empty pages back when the daemon goes quiet.
// - the allocator: jemalloc when the host has it (Debian: libjemalloc2), preloaded with one arena, no thread caches
//   and dirty pages returned after 1 s: −4 to −6 MiB against glibc, whose main arena held ~16 MiB for ~10 in use.
//   Without it, glibc with MALLOC_ARENA_MAX=2. Either way the
//   settings are removed from the environment once the process runs (the loader and allocator have read them), so
//   hypervisor commands the daemon starts do not inherit them. An operator's own LD_PRELOAD, MALLOC_CONF or
//   MALLOC_ARENA_MAX is left alone; SDPEER_MALLOC=glibc keeps glibc.
// A compile-cache miss (first start after an upgrade or an edit) loads Node's TypeScript stripper, which then stays
// resident (~20 MiB): restartIfCompiledCold() writes the cache and re-executes once more, so the daemon that runs
// compiled nothing.

/**
 * Node 24 carves every small Buffer (Buffer.from, allocUnsafe: what libp2p's peer ids, multiaddrs and decoded
 * protobuf fields are made of) out of 64 KiB slabs, and one small long-lived survivor keeps its whole slab: at
 * N = 20 a daemon held 1.6-2.3 MiB of ArrayBuffers, mostly such slabs, for a few KiB of peer ids and addresses
 * (heap snapshot, simulations/bench/mesh-memory.ts). With 8 KiB slabs (Node 20's default) it holds ~1 MiB.
 * Set in the daemon only: `sdpeer check` allocates many small buffers in a short life and keeps none.
 */
export const DAEMON_BUFFER_POOL_BYTES = 8 * 1024

export const DAEMON_NODE_FLAGS: readonly string[] = ['--optimize-for-size', '--max-opt=1', '--heap-growing-percent=5', '--max-semi-space-size=1', '--v8-pool-size=1', '--expose-gc']

const STAGE_VAR = 'SDPEER_DAEMON_STAGE'
/** Names the allocator variables the launcher added (comma-separated), to be removed once the daemon runs. */
const ADDED_VAR = 'SDPEER_DAEMON_ADDED'

/** jemalloc's settings for the daemon (read by the library from the environment at load). */
export const DAEMON_JEMALLOC_CONF = 'narenas:1,tcache:false,dirty_decay_ms:1000,muzzy_decay_ms:0'

/** Where distributions install jemalloc's shared library (Debian's libjemalloc2, Fedora's jemalloc). */
export function jemallocCandidates (arch: string = process.arch): string[] {
  const triplet = arch === 'x64' ? 'x86_64-linux-gnu' : arch === 'arm64' ? 'aarch64-linux-gnu' : undefined
  return [
    ...(triplet !== undefined ? [`/usr/lib/${triplet}/libjemalloc.so.2`] : []),
    '/usr/lib64/libjemalloc.so.2', '/usr/lib/libjemalloc.so.2', '/usr/local/lib/libjemalloc.so.2'
  ]
}

export function findJemalloc (exists: (path: string) => boolean = existsSync, candidates: string[] = jemallocCandidates()): string | undefined {
  return candidates.find(p => exists(p))
}

/**
 * The allocator variables the launcher adds for the daemon: jemalloc preloaded when `jemalloc` is a path and the
 * operator set none of the allocator's variables, else glibc with two arenas unless MALLOC_ARENA_MAX is set.
 */
export function allocatorEnv (env: NodeJS.ProcessEnv, jemalloc: string | undefined): Record<string, string> {
  const own = (name: string): boolean => env[name] !== undefined && env[name] !== ''
  const added: Record<string, string> = {}
  if (jemalloc !== undefined && env.SDPEER_MALLOC !== 'glibc' && !own('LD_PRELOAD') && !own('MALLOC_CONF') && !own('MALLOC_ARENA_MAX')) {
    added.LD_PRELOAD = jemalloc
    added.MALLOC_CONF = DAEMON_JEMALLOC_CONF
  } else if (!own('MALLOC_ARENA_MAX')) {
    added.MALLOC_ARENA_MAX = '2'
  }
  return Object.keys(added).length === 0 ? {} : { ...added, [ADDED_VAR]: Object.keys(added).join(',') }
}

/**
 * `launcher`: the process the user started; `tuned`: re-executed with DAEMON_NODE_FLAGS; `recompiled`: re-executed
 * again after a cold compile cache; `none`: not started through cli/sdpeer.js (tests, `node cli/main.ts`).
 */
export type DaemonStage = 'none' | 'launcher' | 'tuned' | 'recompiled'

let stage: DaemonStage = 'none'

/** Called once by cli/sdpeer.js for `join`: learns (and clears) the stage this process was started in. */
export function enterDaemonProcess (env: NodeJS.ProcessEnv = process.env): DaemonStage {
  const s = env[STAGE_VAR]
  stage = s === 'tuned' || s === 'recompiled' ? s : 'launcher'
  Buffer.poolSize = DAEMON_BUFFER_POOL_BYTES
  for (const name of (env[ADDED_VAR] ?? '').split(',')) if (ALLOCATOR_VARS.has(name)) delete env[name]
  delete env[STAGE_VAR]
  delete env[ADDED_VAR]
  return stage
}

const ALLOCATOR_VARS = new Set(['LD_PRELOAD', 'MALLOC_CONF', 'MALLOC_ARENA_MAX'])

/** Which allocator this daemon process runs on: jemalloc when it is mapped, else glibc's malloc. */
export function daemonAllocator (maps: () => string): 'jemalloc' | 'glibc' {
  try { return /libjemalloc\.so/.test(maps()) ? 'jemalloc' : 'glibc' } catch { return 'glibc' }
}

export function daemonStage (): DaemonStage { return stage }

/**
 * Replaces this process (same pid, same stdio) by node running the same script and arguments, with `nodeFlags`
 * after the process's own node flags (V8 takes the last of a repeated flag: ours beat the #! line's
 * --max-semi-space-size=2). Returns only when execve is unavailable (not POSIX): the daemon then runs untuned.
 */
export function execDaemon (next: 'tuned' | 'recompiled', nodeFlags: readonly string[], env: NodeJS.ProcessEnv = process.env): void {
  if (typeof process.execve !== 'function') return
  // Entries written so far would be lost with this process image: the next one should find them.
  try { module.flushCompileCache?.() } catch {}
  // The second re-execution starts from the environment the first cleaned: the same variables are added again.
  const allocator = allocatorEnv(env, findJemalloc())
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...nodeFlags, ...process.argv.slice(1)],
    { ...env, ...allocator, [STAGE_VAR]: next })
}

/** Whether Node had to strip TypeScript itself in this process (some module missed the compile cache). */
export function compiledCold (): boolean {
  const loaded = (process as unknown as { moduleLoadList?: string[] }).moduleLoadList ?? []
  return loaded.some(m => m.endsWith('internal/deps/amaro/dist/index'))
}

/**
 * In the tuned daemon process, before it starts anything: when loading its modules missed the compile cache, write
 * the cache and re-execute, once. The flags are already in process.execArgv.
 */
export function restartIfCompiledCold (): void {
  if (stage === 'tuned' && compiledCold()) execDaemon('recompiled', [])
}
