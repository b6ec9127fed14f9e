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
import module from 'node:module'

const major = Number(process.versions.node.split('.')[0])
if (major < 24) {
  process.stderr.write(`sdpeer: needs Node.js 24 or later (this is ${process.version}); run it through npx or npm scripts after \`npm ci\`, which bring Node 24\n`)
  process.exit(2)
}
try { module.enableCompileCache?.() } catch { /* an unwritable cache directory only costs start-up time */ }
// `sdpeer check big.sf | head`: a closed pipe ends the output, it is not a crash.
process.stdout.on('error', err => { if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0); else throw err })
const { runProcess } = await import('./main.ts')
await runProcess()
