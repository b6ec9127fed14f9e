// One mesh peer as its own process, for tests and measurements that need a peer another process can SIGKILL or
// SIGSTOP. Prints one JSON line {peerId, addrs} once started, then one line per membership event
// {event, peer, at}; runs until killed; SIGTERM leaves cleanly.
//
//   npx node simulations/membership/mesh-peer.ts --host NAME --state-dir DIR [--bootstrap MULTIADDR]...

import { parseArgs } from 'node:util'
import { createMeshNode } from '../../node/mesh/node.ts'

const { values } = parseArgs({
  options: {
    host: { type: 'string' },
    'state-dir': { type: 'string' },
    bootstrap: { type: 'string', multiple: true, default: [] },
    listen: { type: 'string', default: '/ip4/127.0.0.1/tcp/0' }
  }
})
if (values.host == null || values['state-dir'] == null) {
  process.stderr.write('usage: mesh-peer.ts --host NAME --state-dir DIR [--bootstrap MULTIADDR]...\n')
  process.exit(2)
}
// The harness going away closes our stdout: leave quietly rather than die on EPIPE mid-write.
process.stdout.on('error', () => { process.exit(0) })
const node = await createMeshNode({ host: values.host, stateDir: values['state-dir'], bootstrap: values.bootstrap, listen: [values.listen] })
await node.start()
process.stdout.write(JSON.stringify({ peerId: node.peerId, addrs: node.multiaddrs() }) + '\n')
// Every membership change as a line with the wall time, so a harness can time detection across processes.
node.membership.on(e => {
  if (e.type === 'refute') process.stdout.write(JSON.stringify({ event: 'refute', incarnation: e.incarnation, at: Date.now() }) + '\n')
  else process.stdout.write(JSON.stringify({ event: e.type, peer: e.member.id, at: Date.now() }) + '\n')
})
process.on('SIGTERM', () => { void node.stop({ leave: true }).then(() => process.exit(0)) })
setInterval(() => {}, 1 << 30)
