#!/usr/bin/env -S node --max-semi-space-size=2
// The `sdpeer` command. A .js shim so that npm links it as a bin; the CLI itself is TypeScript that Node 24 runs by
// stripping types. Refuse an older Node with a clear message rather than a libp2p stack trace.
//
// Start-up and memory (measured in BENCHMARKS.md, `sdpeer check` of a 10,000-VM pool):
// - `--max-semi-space-size=2` (in the #! line: V8 ignores it once the heap exists, so it cannot be set from here)
//   caps the young generation at 2 MiB per semi-space; its default growth to 16+ MiB per semi-space was ~100 MiB
//   of the peak RSS, for no measurable CPU gain. Run as `node cli/sdpeer.js`, the flag is simply absent.
// - the compile cache keeps the type-stripped, compiled modules on disk (keyed by their content, so edits
//   invalidate it): without it every run loads the TypeScript stripper (~35 MiB RSS, ~0.1 s CPU) and strips
//   every module again. NODE_DISABLE_COMPILE_CACHE=1 turns it off.
// - `check` runs without TurboFan and writes its stderr with write(2) (below).
import module from 'node:module'
import v8 from 'node:v8'
import { writeSync } from 'node:fs'
import { isatty } from 'node:tty'

const major = Number(process.versions.node.split('.')[0])
if (major < 24) {
  process.stderr.write(`sdpeer: needs Node.js 24 or later (this is ${process.version}); run it through npx or npm scripts after \`npm ci\`, which bring Node 24\n`)
  process.exit(2)
}
// `sdpeer check` is one short burst of work: TurboFan's compile jobs cost more CPU (~0.1 s) and memory (~15 MiB
// of compiler zones and code) than the optimised code gives back before the process ends; Maglev stays on.
// Measured in BENCHMARKS.md. Set before the compile cache is enabled: its directory is keyed by the V8 flags.
// The other commands keep V8's defaults (they do not parse big descriptions); the daemon's flags are below.
if (process.argv[2] === 'check') {
  v8.setFlagsFromString('--no-turbofan')
  // Its diagnostics go straight to file descriptor 2: when stderr is a pipe (a pipeline, the bench's /usr/bin/time
  // under execa) or a terminal, Node's stream for it cost 6-8 MiB of peak RSS and ~0.04 s CPU on a 10,000-VM pool
  // (measured, BENCHMARKS.md), and Node writes stderr synchronously there anyway, as this does.
  Object.defineProperty(process, 'stderr', { configurable: true, enumerable: true, value: syncWriter(2) })
}
try { module.enableCompileCache?.() } catch { /* an unwritable cache directory only costs start-up time */ }
// `sdpeer join` (the daemon) re-executes itself once with the node flags and malloc setting of cli/daemon-exec.ts,
// which only apply at process start (its header says why each; BENCHMARKS.md measures them). `--help` just prints.
if (process.argv[2] === 'join' && !process.argv.slice(3).some(a => a === '--help' || a === '-h')) {
  const { DAEMON_NODE_FLAGS, enterDaemonProcess, execDaemon } = await import('./daemon-exec.ts')
  if (enterDaemonProcess() === 'launcher') execDaemon('tuned', DAEMON_NODE_FLAGS)
}
// `sdpeer check big.sf | head`: a closed pipe ends the output, it is not a crash.
process.stdout.on('error', err => { if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw err })
const { runProcess } = await import('./main.ts')
await runProcess()

/** A minimal synchronous writable for `fd`: `write` (a string or bytes) returns once all of it is written. */
function syncWriter (fd) {
  // One write(2), retried while a non-blocking descriptor is full; a closed pipe ends the output quietly, as the
  // EPIPE handler above does for stdout.
  const once = (data) => {
    for (;;) {
      try {
        return writeSync(fd, data)
      } catch (err) {
        if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0)
        if (err.code !== 'EAGAIN') throw err
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1)
      }
    }
  }
  const writer = {
    fd,
    isTTY: isatty(fd),
    writable: true,
    write (chunk, encoding, callback) {
      if (typeof encoding === 'function') callback = encoding
      let rest = typeof chunk === 'string' ? Buffer.from(chunk, typeof encoding === 'string' ? encoding : 'utf8') : chunk
      while (rest.length > 0) rest = rest.subarray(once(rest))
      if (typeof callback === 'function') queueMicrotask(callback)
      return true
    },
    end (chunk, encoding, callback) { if (chunk !== undefined && typeof chunk !== 'function') writer.write(chunk, encoding, callback); return writer },
    on () { return writer },
    once () { return writer },
    off () { return writer },
    removeListener () { return writer },
    emit () { return false }
  }
  return writer
}
