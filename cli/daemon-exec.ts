import module from 'node:module'

// How `sdpeer join` gets its process: cli/sdpeer.js re-executes itself once (process.execve: same pid, so a service
// manager's or the cluster harness's signals still reach the daemon) with the node flags and malloc setting below,
// which only take effect at process start. Measured with simulations/bench/mesh-daemons.ts (BENCHMARKS.md):
// - `--max-semi-space-size=1`: the young generation's semi-spaces stay at 1 MiB (the #! line's 2 is for `check`);
//   the daemon's allocation is steady and small, so scavenges stay cheap.
// - `--v8-pool-size=1` and MALLOC_ARENA_MAX=2: one V8 worker thread instead of one per core, and glibc's per-thread
//   malloc arenas (each keeps its freed pages) capped at two. Removed from the environment again once the process
//   runs (glibc has read it), so hypervisor commands the daemon starts do not inherit it.
// - `--expose-gc`: for cli/heap-trim.ts, which hands the heap's empty pages back when the daemon goes quiet.
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

export const DAEMON_NODE_FLAGS: readonly string[] = ['--max-semi-space-size=1', '--v8-pool-size=1', '--expose-gc']

const STAGE_VAR = 'SDPEER_DAEMON_STAGE'
const ARENA_VAR = 'SDPEER_DAEMON_ARENA'

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
  if (env[ARENA_VAR] === 'added') delete env.MALLOC_ARENA_MAX
  delete env[STAGE_VAR]
  delete env[ARENA_VAR]
  return stage
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
  const arena = env.MALLOC_ARENA_MAX === undefined ? { MALLOC_ARENA_MAX: '2', [ARENA_VAR]: 'added' } : {}
  process.execve(process.execPath, [process.execPath, ...process.execArgv, ...nodeFlags, ...process.argv.slice(1)],
    { ...env, ...arena, [STAGE_VAR]: next })
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
