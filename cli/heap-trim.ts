import { availableParallelism, loadavg } from 'node:os'
import { performance } from 'node:perf_hooks'
import v8 from 'node:v8'

// Hands the V8 heap's unused pages back once the daemon is quiet. Start-up (≈1,000 modules) and every deploy leave
// the old generation fragmented: ~8 MiB of committed pages around ~20 MiB of live objects on an idle daemon.
// An ordinary full GC frees objects without releasing their pages; a memory-reducing full GC ("last-resort":
// compacts, then releases) does. It runs only when the event loop was nearly idle for the last period, once after
// start-up and then only after the heap grew again (a deploy), never on a steady daemon. Its pause is what limits it:
// a membership probe times out after 250 ms. With V8's default flags it paused 150-460 ms on a quiet machine and
// 0.7-1.9 s with 20 daemons on 2 loaded cores, where peers declared trimming daemons dead; since the daemon runs with
// --optimize-for-size and without the optimising compilers (cli/daemon-exec.ts) its heap is smaller and the pause
// 40-150 ms with 20 daemons at load 6-9 on 2 cores (simulations/bench/mesh-daemons.ts, 0 false dead). So it runs up
// to 4 runnable threads per CPU (1-minute load average), and once a trim paused longer than 150 ms, only on a machine
// with at most one per CPU until a trim is short again.

export interface HeapTrimOptions {
  /** The full-GC entry point (`globalThis.gc`, present under --expose-gc); without it nothing is ever trimmed. */
  gc: NodeJS.GCFunction | undefined
  /** How often to look (default 5 s). */
  intervalMs?: number
  /** Growth of the committed heap since the last trim that is worth another (default 4 MiB). */
  minGrowthBytes?: number
  /** Event-loop utilisation over the last period below which the daemon counts as quiet (default 0.05). */
  maxUtilization?: number
  /** Runnable threads per CPU (1-minute load average) above which the machine is too busy (default 4). */
  maxLoadPerCpu?: number
  /** A trim that paused longer than this (default 150 ms) holds the next back until the load is at most 1 per CPU. */
  maxPauseMs?: number
  /** The machine's load per CPU (default: os.loadavg()[0] / os.availableParallelism()). */
  loadPerCpu?: () => number
  /** Told after each trim: heap committed before and after, and the pause. */
  onTrim?: (trim: { beforeBytes: number, afterBytes: number, pauseMs: number }) => void
}

export interface HeapTrimmer {
  /** Looks now (as the timer does): trims when quiet enough and worth it. True when it trimmed. */
  check (): boolean
  stop (): void
}

export function trimHeapWhenQuiet (options: HeapTrimOptions): HeapTrimmer {
  const minGrowth = options.minGrowthBytes ?? 4 * 1024 * 1024
  const maxUtilization = options.maxUtilization ?? 0.05
  const maxLoad = options.maxLoadPerCpu ?? 4
  const maxPause = options.maxPauseMs ?? 150
  let lastPauseMs = 0
  const loadPerCpu = options.loadPerCpu ?? (() => loadavg()[0]! / availableParallelism())
  let last = performance.eventLoopUtilization()
  let trimmedAt = 0 // committed heap right after the last trim; 0: the start-up heap is still to be trimmed
  const check = (): boolean => {
    const now = performance.eventLoopUtilization()
    const busy = performance.eventLoopUtilization(now, last).utilization
    last = now
    const gc = options.gc
    if (gc === undefined || busy > maxUtilization || loadPerCpu() > (lastPauseMs > maxPause ? Math.min(1, maxLoad) : maxLoad)) return false
    const before = v8.getHeapStatistics().total_heap_size
    if (trimmedAt !== 0 && before < trimmedAt + minGrowth) return false
    const t0 = performance.now()
    gc({ type: 'major', execution: 'sync', flavor: 'last-resort' })
    const pauseMs = performance.now() - t0
    lastPauseMs = pauseMs
    // The pause is not the daemon's work: leave it out of the next period's utilisation.
    last = performance.eventLoopUtilization()
    trimmedAt = v8.getHeapStatistics().total_heap_size
    options.onTrim?.({ beforeBytes: before, afterBytes: trimmedAt, pauseMs })
    return true
  }
  const timer = setInterval(check, options.intervalMs ?? 5_000)
  timer.unref()
  return { check, stop: () => { clearInterval(timer) } }
}
