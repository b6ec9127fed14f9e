import v8 from 'node:v8'

// The daemon runs with V8's `--optimize-for-size` (cli/daemon-exec.ts): it is what lets V8's memory reducer hand the
// heap's fragmented pages back on an idle daemon (−10 MiB at N = 20, BENCHMARKS.md), but it also keeps the heap's
// growth minimal, so bulk data work collects far more often: an image transfer ran 25–30% slower with it. So the
// bulk paths hold "throughput" while they run: the first hold turns the flag off, and it goes back on once no hold
// is left for LINGER_MS (a transfer asks for one chunk after another: no flip per chunk). V8 reads the flag at each
// heap decision, so the change takes effect at once (measured: simulations/bench/image-transfer.ts). A process
// started without the flag (tests, `node cli/main.ts`, the benchmarks) is never switched: holds count, nothing flips.

const FLAG = '--optimize-for-size'
const LINGER_MS = 2_000

export interface MemoryMode {
  /** Until the returned function is called, V8 favours speed over memory. The function is idempotent. */
  holdThroughput (): () => void
  /** Holds not yet released. */
  readonly holds: number
  /** Whether the memory flag is on now (false in a process started without it). */
  readonly savingMemory: boolean
}

export interface MemoryModeOptions {
  /** Whether the process was started with the flag (default: process.execArgv has it). */
  startedWithFlag?: boolean
  /** How a flag string reaches V8 (default v8.setFlagsFromString). */
  setFlags?: (flags: string) => void
  lingerMs?: number
  setTimer?: (fn: () => void, ms: number) => Timer
  clearTimer?: (t: Timer) => void
}

/** A timer handle: Node's Timeout, or whatever a test's setTimer gives. */
type Timer = object

export function createMemoryMode (o: MemoryModeOptions = {}): MemoryMode {
  const enabled = o.startedWithFlag ?? process.execArgv.includes(FLAG)
  const setFlags = o.setFlags ?? ((f: string) => { v8.setFlagsFromString(f) })
  const linger = o.lingerMs ?? LINGER_MS
  const setTimer = o.setTimer ?? ((fn: () => void, ms: number): Timer => setTimeout(fn, ms))
  const clearTimer = o.clearTimer ?? ((t: Timer) => { clearTimeout(t as ReturnType<typeof setTimeout>) })
  let holds = 0
  let saving = enabled
  let timer: Timer | undefined
  const restore = (): void => {
    timer = undefined
    if (holds === 0 && enabled && !saving) { setFlags(FLAG); saving = true }
  }
  return {
    holdThroughput () {
      holds++
      if (timer !== undefined) { clearTimer(timer); timer = undefined }
      if (saving) { setFlags('--no-optimize-for-size'); saving = false }
      let released = false
      return () => {
        if (released) return
        released = true
        holds--
        if (holds === 0 && enabled && !saving) {
          timer = setTimer(restore, linger)
          ;(timer as { unref?: () => unknown }).unref?.()
        }
      }
    },
    get holds () { return holds },
    get savingMemory () { return saving }
  }
}

/** The process's one mode: the flag is process-wide. */
export const memoryMode: MemoryMode = createMemoryMode()
