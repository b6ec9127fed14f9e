#!/usr/bin/env node
// The `sdpeer` command. A .js shim so that npm links it as a bin; the CLI itself is TypeScript that Node 24 runs by
// stripping types. Refuse an older Node with a clear message rather than a libp2p stack trace.
const major = Number(process.versions.node.split('.')[0])
if (major < 24) {
  process.stderr.write(`sdpeer: needs Node.js 24 or later (this is ${process.version}); run it through npx or npm scripts after \`npm ci\`, which bring Node 24\n`)
  process.exit(2)
}
const { runProcess } = await import('./main.ts')
await runProcess()
