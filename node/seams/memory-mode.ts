import v8 from 'node:v8'

// The daemon runs with V8's `--optimize-for-size` and `--heap-growing-percent=5` (cli/daemon-exec.ts): the first
// lets V8's memory reducer hand the heap's fragmented pages back on an idle daemon (−10 MiB at N = 20), the second
// keeps the old generation from growing far past its live size in a burst of work (the entry peer of three 100-VM
// deploys: ~106 → ~102 MiB; BENCHMARKS.md). Both make bulk data work collect far more often: an image transfer ran
// 25–30% slower with them. So the bulk paths hold "throughput" while they run: the first hold sets V8's defaults
// again, and the memory flags come back once no hold is left for LINGER_MS (a transfer asks for one chunk after
// another: no flip per chunk). V8 reads these flags at each heap decision, so a change takes effect at once
// (measured: simulations/bench/image-transfer.ts). A process started without `--optimize-for-size` (tests,
// `node cli/main.ts`) is never switched: holds count, nothing flips.

/** The flags switched, as the process was started with them (cli/daemon-exec.ts), and V8's defaults for them. */
const SWITCHED = (flag: string): boolean => flag === '--optimize-for-size' || flag.startsWith('--heap-growing-percent=')
const THROUGHPUT_FLAGS = '--no-optimize-for-size --heap-growing-percent=0'
const LINGER_MS = 2_000

export interface MemoryMode {
  /** Until the returned function is called, V8 favours speed over memory. The function is idempotent. */
  holdThroughput (): () => void
  /** Holds not yet released. */
  readonly holds: number
  /** Whether the memory flags are on now (false in a process started without them). */
  readonly savingMemory: boolean
}

export interface MemoryModeOptions {
  /** The node flags the process was started with (default process.execArgv). */
  startFlags?: readonly string[]
  /** How a flag string reaches V8 (default v8.setFlagsFromString). */
  setFlags?: (flags: string) => void
  lingerMs?: number
  /** Starts the linger timer; it must not keep the process alive (default: an unref'd setTimeout). */
  setTimer?: (fn: () => void, ms: number) => Timer
  clearTimer?: (t: Timer) => void
}

/** A timer handle: Node's Timeout, or whatever a test's setTimer gives. */
type Timer = object

export function createMemoryMode (o: MemoryModeOptions = {}): MemoryMode {
  const start = o.startFlags ?? process.execArgv
  const memoryFlags = start.filter(SWITCHED).join(' ')
  const enabled = start.includes('--optimize-for-size')
  const setFlags = o.setFlags ?? ((f: string) => { v8.setFlagsFromString(f) })
  const linger = o.lingerMs ?? LINGER_MS
  const setTimer = o.setTimer ?? ((fn: () => void, ms: number): Timer => setTimeout(fn, ms).unref())
  const clearTimer = o.clearTimer ?? ((t: Timer) => { clearTimeout(t as ReturnType<typeof setTimeout>) })
  let holds = 0
  let saving = enabled
  let timer: Timer | undefined
  const restore = (): void => {
    timer = undefined
    if (holds === 0 && enabled && !saving) { setFlags(memoryFlags); saving = true }
  }
  return {
    holdThroughput () {
      holds++
      if (timer !== undefined) { clearTimer(timer); timer = undefined }
      if (saving) { setFlags(THROUGHPUT_FLAGS); saving = false }
      let released = false
      return () => {
        if (released) return
        released = true
        holds--
        if (holds === 0 && enabled && !saving) timer = setTimer(restore, linger)
      }
    },
    get holds () { return holds },
    get savingMemory () { return saving }
  }
}

/** The process's one mode: the flag is process-wide. */
export const memoryMode: MemoryMode = createMemoryMode()
