import { createMeshNode } from '../../node/mesh/node.ts'
import { ImageServer } from '../../node/images/transfer.ts'
import { Warehouse } from '../../node/images/warehouse.ts'

// The serving daemon of simulations/bench/image-transfer.ts, in a process of its own (as a real peer is): a mesh node
// with its warehouse's image server, plus a raw stream protocol that pushes BYTES bytes (the stack's own ceiling).
// Prints one JSON line {peerId, addr} when listening; exits when its stdin closes.
//   npx node simulations/bench/image-serve.ts STATE_DIR BYTES

const [stateDir, bytesArg] = process.argv.slice(2)
const bytes = Number(bytesArg)
const node = await createMeshNode({ host: 'a.bench', stateDir })
await node.start()
const server = new ImageServer(node.rpc, node.libp2p, new Warehouse(stateDir))
await server.start()
await node.libp2p.handle('/sdpeer/bench-raw/1', async (stream) => {
  const buf = new Uint8Array(256 * 1024)
  for (let sent = 0; sent < bytes; sent += buf.length) { if (!stream.send(buf)) await stream.onDrain() }
  await stream.close()
})
process.stdout.write(JSON.stringify({ peerId: node.peerId, addr: node.multiaddrs()[0] }) + '\n')
process.stdin.resume()
process.stdin.on('end', () => {
  void (async () => {
    await server.stop()
    await node.stop()
    process.exit(0)
  })()
})
