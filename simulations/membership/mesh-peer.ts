// One mesh peer as its own process, for tests and measurements that need a peer another process can SIGKILL or
// SIGSTOP. Prints one JSON line {peerId, addrs} once started, then one line per membership event
// {event, peer, at}, one {event:'directory', size, at} whenever the number of hosts it knows changes, and with
// --stats-every one {event:'stats', mem, heap, at} line that often; runs until killed; SIGTERM leaves cleanly.
//
//   npx node simulations/membership/mesh-peer.ts --host NAME --state-dir DIR [--bootstrap MULTIADDR]...
//     [--stats-every MS]

import module from 'node:module'
import { join } from 'node:path'
import { getHeapSpaceStatistics, writeHeapSnapshot } from 'node:v8'
import { parseArgs } from 'node:util'
import { createMeshNode } from '../../node/mesh/node.ts'

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    'state-dir': { type: 'string' },
    bootstrap: { type: 'string', multiple: true, default: [] },
    listen: { type: 'string', default: '/ip4/127.0.0.1/tcp/0' },
    'stats-every': { type: 'string' }
  }
})
if (values.host == null || values['state-dir'] == null) {
  process.stderr.write('usage: mesh-peer.ts --host NAME --state-dir DIR [--bootstrap MULTIADDR]... [--stats-every MS]\n')
  process.exit(2)
}
// The harness going away closes our stdout: leave quietly rather than die on EPIPE mid-write.
process.stdout.on('error', () => { process.exit(0) })
const line = (v: unknown): void => { process.stdout.write(JSON.stringify(v) + '\n') }
const node = await createMeshNode({ host: values.host, stateDir: values['state-dir'], bootstrap: values.bootstrap, listen: [values.listen] })
await node.start()
// Every module is loaded by now: write the compile cache (Node writes it only at a clean exit, and the harness
// SIGKILLs us), so the next start of a peer finds every module compiled and never loads the TypeScript stripper.
module.flushCompileCache?.()
line({ peerId: node.peerId, addrs: node.multiaddrs() })
// Every membership change as a line with the wall time, so a harness can time detection across processes.
node.membership.on(e => {
  if (e.type === 'refute') line({ event: 'refute', incarnation: e.incarnation, at: Date.now() })
  else line({ event: e.type, peer: e.member.id, at: Date.now() })
})
let known = -1
setInterval(() => {
  const size = node.directory.entries().length
  if (size !== known) { known = size; line({ event: 'directory', size, at: Date.now() }) }
}, 100)
const every = Number(values['stats-every'] ?? 0)
if (every > 0) {
  setInterval(() => {
    // With --expose-gc, a full collection first: the figures are then what is live, not garbage awaiting a GC.
    const gc = (globalThis as { gc?: () => void }).gc
    gc?.()
    const heap = Object.fromEntries(getHeapSpaceStatistics().map(s => [s.space_name, Math.round(s.space_used_size / 1024)]))
    line({ event: 'stats', mem: process.memoryUsage(), heap, connections: node.libp2p.getConnections().length, at: Date.now() })
  }, every)
}
// A heap snapshot on demand (kill -USR2), next to the identity key, for finding where the memory goes.
process.on('SIGUSR2', () => { line({ event: 'heap-snapshot', file: writeHeapSnapshot(join(values['state-dir'] as string, `heap-${process.pid}.heapsnapshot`)), at: Date.now() }) })
process.on('SIGTERM', () => { void node.stop({ leave: true }).then(() => process.exit(0)) })
setInterval(() => {}, 1 << 30)
