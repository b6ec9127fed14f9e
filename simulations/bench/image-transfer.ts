import { randomBytes } from 'node:crypto'
import { mkdtemp, open, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { createMeshNode } from '../../node/mesh/node.ts'
import { fetchImage, ImageServer } from '../../node/images/transfer.ts'
import { Warehouse } from '../../node/images/warehouse.ts'

// Image transfer throughput: an image of SIZE (default 1 GiB) sent between two in-process mesh nodes on loopback
// (TCP, noise encryption, yamux, 1 MiB chunks each checked against the manifest, written to a partial file, the
// whole file re-hashed before install), against `cat FILE | cat > /dev/null` through a pipe in the same run.
//   npx node simulations/bench/image-transfer.ts [SIZE_MIB=1024] [STREAMS=4] [BATCH=8]

const sizeMiB = Number(process.argv[2] ?? 1024)
const batch = Number(process.argv[4] ?? 8)
const perPeer = Number(process.argv[3] ?? 4)
const base = await mkdtemp(join(tmpdir(), 'sdpeer-bench-image-'))
try {
  const src = join(base, 'image.raw')
  const fh = await open(src, 'w')
  const block = randomBytes(1024 * 1024)
  for (let i = 0; i < sizeMiB; i++) { block[0] = i & 0xff; block[1] = i >> 8; await fh.write(block) }
  await fh.close()
  const bytes = sizeMiB * 1024 * 1024

  const a = await createMeshNode({ host: 'a.bench', stateDir: join(base, 'a') })
  await a.start()
  const b = await createMeshNode({ host: 'b.bench', stateDir: join(base, 'b'), bootstrap: [a.multiaddrs()[0]] })
  await b.start()
  const wa = new Warehouse(join(base, 'a'))
  const t0 = performance.now()
  const record = await wa.importFile(src, { name: 'bench' })
  const importMs = performance.now() - t0
  const server = new ImageServer(a.rpc, a.libp2p, wa)
  await server.start()

  // Page cache warm for both sides: the pipe reads the same file the server reads.
  await execa('cat', [wa.imagePath(record)], { stdout: 'ignore' })
  const p0 = performance.now()
  await execa('cat', [wa.imagePath(record)], { buffer: false }).pipe('cat', [], { stdout: 'ignore' })
  const pipeMs = performance.now() - p0

  // The stack's own ceiling: one libp2p stream (noise + yamux) pushing the same number of bytes, no chunking,
  // hashing or files. What the image protocol gets is bounded by this.
  await a.libp2p.handle('/sdpeer/bench-raw/1', async (stream) => {
    const buf = new Uint8Array(256 * 1024)
    for (let sent = 0; sent < bytes; sent += buf.length) { if (!stream.send(buf)) await stream.onDrain() }
    await stream.close()
  })
  const r0 = performance.now()
  const raw = await b.libp2p.dialProtocol(a.libp2p.peerId, '/sdpeer/bench-raw/1')
  let rawBytes = 0
  for await (const c of raw) rawBytes += c.byteLength
  const rawMs = performance.now() - r0
  if (rawBytes !== bytes) throw new Error(`raw stream gave ${rawBytes} bytes`)

  const wb = new Warehouse(join(base, 'b'))
  let verifyStart = 0
  const f0 = performance.now()
  const r = await fetchImage({ rpc: b.rpc, streams: b.libp2p, warehouse: wb, ref: record.id, peers: [a.peerId], perPeer, batch, onProgress: p => { if (p.have === p.total) verifyStart = performance.now() } })
  const fetchMs = performance.now() - f0
  const chunksMs = verifyStart - f0

  const mib = (ms: number): string => (bytes / 1024 / 1024 / (ms / 1000)).toFixed(1)
  console.log(`image ${sizeMiB} MiB, ${Object.values(r.chunksByPeer)[0]} chunks, ${perPeer} streams of ${batch}-chunk batches`)
  console.log(`import (hash + manifest + copy): ${importMs.toFixed(0)} ms`)
  console.log(`pipe  cat | cat:                 ${pipeMs.toFixed(0)} ms  ${mib(pipeMs)} MiB/s`)
  console.log(`libp2p one raw stream (ceiling):  ${rawMs.toFixed(0)} ms  ${mib(rawMs)} MiB/s  ratio ${(pipeMs / rawMs * 100).toFixed(1)}% of the pipe`)
  console.log(`mesh  chunks (encrypted):        ${chunksMs.toFixed(0)} ms  ${mib(chunksMs)} MiB/s  ratio ${(pipeMs / chunksMs * 100).toFixed(1)}% of the pipe`)
  console.log(`mesh  incl. whole-file check:    ${fetchMs.toFixed(0)} ms  ${mib(fetchMs)} MiB/s  ratio ${(pipeMs / fetchMs * 100).toFixed(1)}% of the pipe (goal >= 30%)`)
  await server.stop()
  await b.stop()
  await a.stop()
} finally {
  await rm(base, { recursive: true, force: true })
}
