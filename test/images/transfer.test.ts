import { createHash, randomBytes } from 'node:crypto'
import { open, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import type { MeshNode } from '../../node/mesh/node.ts'
import { CONTENT_ROOT_TAG, contentRootOf, digestFile, manifestRootOf } from '../../node/images/files.ts'
import { fetchImage, ImageServer } from '../../node/images/transfer.ts'
import type { ServeHooks } from '../../node/images/transfer.ts'
import { resolveImageRef } from '../../node/images/resolve.ts'
import { Warehouse } from '../../node/images/warehouse.ts'
import { imageIdOf, normaliseBuild } from '../../node/images/params.ts'
import type { ImageRecord } from '../../node/images/warehouse.ts'
import { importLegacy } from '../../simulations/bench/legacy-image-record.ts'
import { TestMesh, waitFor } from '../mesh/helpers.ts'

// Real libp2p nodes on 127.0.0.1 (TCP, noise, yamux), each with its own warehouse and image server.

interface Host { node: MeshNode, warehouse: Warehouse, server: ImageServer, hooks: ServeHooks, stateDir: string }

let mesh: TestMesh
afterEach(async () => { await mesh?.close() })

const CHUNKS = 24
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

async function threeHosts (): Promise<{ a: Host, b: Host, c: Host, image: Buffer, record: ImageRecord }> {
  mesh = new TestMesh()
  const hosts: Host[] = []
  for (const name of ['a', 'b', 'c']) {
    const node = await mesh.add(`${name}.cern.ch`, hosts.length > 0 ? { bootstrap: [hosts[0].node.multiaddrs()[0]] } : {})
    const stateDir = await mesh.dir(`${name}.cern.ch`)
    const warehouse = new Warehouse(stateDir)
    const hooks: ServeHooks = {}
    const server = new ImageServer(node.rpc, node.libp2p, warehouse, { corrupt: (id, i) => hooks.corrupt?.(id, i) ?? false, onChunk: (id, i) => hooks.onChunk?.(id, i) })
    await server.start()
    hosts.push({ node, warehouse, server, hooks, stateDir })
  }
  const [a, b, c] = hosts
  await waitFor('mesh joined', () => [b, c].every(h => a.node.membership.member(h.node.peerId)?.status === 'alive'))
  // 24 chunks of 1 MiB and a short last one, so the tail case is exercised.
  const image = randomBytes(CHUNKS * 1024 * 1024 - 1000)
  const src = join(a.stateDir, 'src.raw')
  await writeFile(src, image)
  const record = await a.warehouse.importFile(src, { name: 'debian-bookworm-minbase' })
  return { a, b, c, image, record }
}

async function writeTo (path: string, data: Uint8Array): Promise<string> {
  await writeFile(path, data)
  return path
}

/** One more host of the mesh threeHosts made, serving its own (empty) warehouse. */
async function threeHostsPeer (): Promise<Host> {
  const seed = mesh.nodes[0]
  const node = await mesh.add('d.cern.ch', { bootstrap: [seed.multiaddrs()[0]] })
  const stateDir = await mesh.dir('d.cern.ch')
  const warehouse = new Warehouse(stateDir)
  const hooks: ServeHooks = {}
  const server = new ImageServer(node.rpc, node.libp2p, warehouse, hooks)
  await server.start()
  await waitFor('d joined', () => seed.membership.member(node.peerId)?.status === 'alive')
  return { node, warehouse, server, hooks, stateDir }
}

describe('peer-to-peer image transfer', () => {
  it('fetches an image by name from the one peer that has it, verified, into the warehouse', async () => {
    const { a, b, c, image, record } = await threeHosts()
    const progress: number[] = []
    const r = await fetchImage({ rpc: b.node.rpc, streams: b.node.libp2p, warehouse: b.warehouse, ref: 'image:debian-bookworm-minbase', peers: [c.node.peerId, a.node.peerId], onProgress: p => progress.push(p.have) })
    expect(r.local).toBe(false)
    expect(r.record).toMatchObject({ v: 2, id: record.id, source: 'fetch', names: ['debian-bookworm-minbase'] })
    // The chunks were bound to the record by its root (the import's id), not by a second pass over the file; the
    // sender's whole-file sha256, not checked here, is not passed on.
    expect(r.verifiedBy).toBe('root')
    expect(r.record.sha256).toBeUndefined()
    expect(r.chunksByPeer).toEqual({ [a.node.peerId]: CHUNKS })
    expect(progress.at(-1)).toBe(CHUNKS)
    expect(sha(await readFile(b.warehouse.imagePath(r.record)))).toBe(sha(image))
    expect(await readdir(b.warehouse.partialDir)).toEqual([])
    // Now local: the resolver finds it without the mesh, and a second fetch moves nothing.
    expect(await resolveImageRef('image:debian-bookworm-minbase', { stateDir: b.stateDir })).toBe(b.warehouse.imagePath(r.record))
    expect((await fetchImage({ rpc: b.node.rpc, streams: b.node.libp2p, warehouse: b.warehouse, ref: record.id, peers: [a.node.peerId] })).local).toBe(true)
  })

  it('continues from another peer when the serving peer stops in the middle', async () => {
    const { a, b, c, image, record } = await threeHosts()
    await fetchImage({ rpc: b.node.rpc, streams: b.node.libp2p, warehouse: b.warehouse, ref: record.id, peers: [a.node.peerId] })
    let servedByA = 0
    a.hooks.onChunk = () => { if (++servedByA === 6) void a.node.stop() }
    const r = await fetchImage({ rpc: c.node.rpc, streams: c.node.libp2p, warehouse: c.warehouse, ref: record.id, peers: [a.node.peerId, b.node.peerId], requestTimeoutMs: 5_000 })
    expect(r.chunksByPeer[a.node.peerId] ?? 0).toBeLessThan(CHUNKS)
    expect(r.chunksByPeer[b.node.peerId]).toBeGreaterThan(0)
    expect((r.chunksByPeer[a.node.peerId] ?? 0) + r.chunksByPeer[b.node.peerId]).toBe(CHUNKS)
    expect(sha(await readFile(c.warehouse.imagePath(r.record)))).toBe(sha(image))
  })

  it('keeps the chunks of a cut transfer and resumes from them with another peer; nothing is usable before', async () => {
    const { a, b, c, image, record } = await threeHosts()
    await fetchImage({ rpc: b.node.rpc, streams: b.node.libp2p, warehouse: b.warehouse, ref: record.id, peers: [a.node.peerId] })
    let servedByA = 0
    a.hooks.onChunk = () => { if (++servedByA === 8) void a.node.stop() }
    const cut = await fetchImage({ rpc: c.node.rpc, streams: c.node.libp2p, warehouse: c.warehouse, ref: record.id, peers: [a.node.peerId], perPeer: 1, batch: 2, requestTimeoutMs: 3_000 }).catch(e => e)
    expect(cut).toMatchObject({ name: 'TransferIncompleteError', imageId: record.id, total: CHUNKS })
    expect(cut.have).toBeGreaterThanOrEqual(6)
    expect(cut.have).toBeLessThan(CHUNKS)
    expect(await c.warehouse.find(record.id)).toBeUndefined()
    await expect(resolveImageRef(`image:${record.id}`, { stateDir: c.stateDir })).rejects.toMatchObject({ name: 'ImageNotFoundError' })
    const r = await fetchImage({ rpc: c.node.rpc, streams: c.node.libp2p, warehouse: c.warehouse, ref: record.id, peers: [b.node.peerId] })
    expect(r.resumedChunks).toBe(cut.have)
    expect(r.chunksByPeer).toEqual({ [b.node.peerId]: CHUNKS - cut.have })
    expect(sha(await readFile(c.warehouse.imagePath(r.record)))).toBe(sha(image))
  })

  it('after a crash, chunks the bitmap claims but the disk lost are checked and fetched again', async () => {
    const { a, c, image, record } = await threeHosts()
    let servedByA = 0
    a.hooks.onChunk = () => { if (++servedByA === 10) void a.node.stop() }
    const cut = await fetchImage({ rpc: c.node.rpc, streams: c.node.libp2p, warehouse: c.warehouse, ref: record.id, peers: [a.node.peerId], perPeer: 1, batch: 2, requestTimeoutMs: 3_000 }).catch(e => e)
    expect(cut).toMatchObject({ name: 'TransferIncompleteError' })
    expect(cut.have).toBeGreaterThanOrEqual(4)
    // The partial file is not fsynced per chunk: a crash may leave a claimed chunk as zeros (or torn).
    const [partName] = (await readdir(c.warehouse.partialDir)).filter(n => n.endsWith('.part'))
    const fh = await open(join(c.warehouse.partialDir, partName), 'r+')
    await fh.write(Buffer.alloc(4096), 0, 4096, 1024 * 1024 + 512)
    await fh.close()
    const b2 = await mesh.add('b2.cern.ch', { bootstrap: [c.node.multiaddrs()[0]] })
    const w2 = new Warehouse(await mesh.dir('b2.cern.ch'))
    await w2.importFile(join(a.stateDir, 'src.raw'))
    const s2 = new ImageServer(b2.rpc, b2.libp2p, w2)
    await s2.start()
    await waitFor('b2 joined', () => c.node.membership.member(b2.peerId)?.status === 'alive')
    const r = await fetchImage({ rpc: c.node.rpc, streams: c.node.libp2p, warehouse: c.warehouse, ref: record.id, peers: [b2.peerId] })
    expect(r.resumedChunks).toBe(cut.have - 1)
    expect(r.chunksByPeer[b2.peerId]).toBe(CHUNKS - cut.have + 1)
    expect(sha(await readFile(c.warehouse.imagePath(r.record)))).toBe(sha(image))
    await s2.stop()
  })

  it('refuses another content under an imported image\'s id: a forged root, or a manifest the root does not bind', async () => {
    const { a, b, record } = await threeHosts()
    // A peer that swapped the content and manifest of an imported image (id = its content root) for others.
    const other = randomBytes(record.size)
    const otherFile = join(a.stateDir, 'other.raw')
    await writeFile(otherFile, other)
    const digest = await digestFile(otherFile)
    await writeFile(a.warehouse.imagePath(record), other)
    // A hostile server: its warehouse would refuse to serve that manifest under this record, so it is handed out as is.
    a.warehouse.manifest = async () => digest.chunkHashes
    const fetch = async (): Promise<unknown> => await fetchImage({ rpc: b.node.rpc, streams: b.node.libp2p, warehouse: b.warehouse, ref: record.id, peers: [a.node.peerId], requestTimeoutMs: 3_000 }).catch(e => e)
    // Its record kept: the manifest does not hash to the root.
    expect(await fetch()).toMatchObject({ name: 'TransferIncompleteError', imageId: record.id, have: 0 })
    // Its record's root made to fit: the id no longer follows from it, so the record is not believed at all.
    await writeFile(join(a.warehouse.dir, `${record.id}.json`), JSON.stringify({ ...record, root: contentRootOf(digest.size, digest.chunkSize, digest.chunkHashes) }))
    expect(await fetch()).toMatchObject({ name: 'ImageNotFoundError' })
    expect(await b.warehouse.find(record.id)).toBeUndefined()
  })

  it('fetches a version 1 record (named by its whole-file sha256) with the whole-file pass, and refuses a forged one', async () => {
    const { a, b, c, image } = await threeHosts()
    const legacy = await importLegacy(a.warehouse, join(a.stateDir, 'src.raw'), ['old-disk'])
    let corrupted = false
    a.hooks.corrupt = (_id, i) => { if (i === 5 && !corrupted) { corrupted = true; return true } return false }
    const r = await fetchImage({ rpc: b.node.rpc, streams: b.node.libp2p, warehouse: b.warehouse, ref: 'image:old-disk', peers: [a.node.peerId] })
    expect(r.verifiedBy).toBe('sha256')
    expect(r.badChunks.map(x => x.index)).toEqual([5])
    expect(r.record).toMatchObject({ v: 1, id: legacy.id, sha256: sha(image), manifestRoot: legacy.manifestRoot, source: 'fetch', names: ['old-disk'] })
    expect(sha(await readFile(b.warehouse.imagePath(r.record)))).toBe(sha(image))
    expect((await b.warehouse.manifest(legacy.id)).equals(await a.warehouse.manifest(legacy.id))).toBe(true)
    // A peer that swapped content and manifest under the version 1 record: chunks match, the whole file does not.
    const other = randomBytes(legacy.size)
    const digest = await digestFile(await writeTo(join(a.stateDir, 'other.raw'), other))
    await writeFile(a.warehouse.imagePath(legacy), other)
    await writeFile(join(a.warehouse.dir, `${legacy.id}.chunks`), digest.chunkHashes)
    await writeFile(join(a.warehouse.dir, `${legacy.id}.json`), JSON.stringify({ ...legacy, manifestRoot: manifestRootOf(digest.chunkHashes) }))
    const err = await fetchImage({ rpc: c.node.rpc, streams: c.node.libp2p, warehouse: c.warehouse, ref: legacy.id, peers: [a.node.peerId] }).catch(e => e)
    expect(err).toMatchObject({ name: 'ImageIntegrityError', imageId: legacy.id })
    expect(await c.warehouse.find(legacy.id)).toBeUndefined()
  })

  it('refuses a version 1 import made of another image\'s root input, which would carry that image\'s id', async () => {
    const { a, b, record } = await threeHosts()
    // sha256 of this file is the content root of the real image: as a version 1 import its id is record.id.
    const digest = await digestFile(a.warehouse.imagePath(record))
    const dims = Buffer.alloc(12)
    dims.writeBigUInt64BE(BigInt(digest.size), 0)
    dims.writeUInt32BE(digest.chunkSize, 8)
    const forgedFile = await writeTo(join(a.stateDir, 'root-input.raw'), Buffer.concat([Buffer.from(CONTENT_ROOT_TAG), dims, digest.chunkHashes]))
    const c = await threeHostsPeer()
    const legacy = await importLegacy(c.warehouse, forgedFile)
    expect(legacy.id).toBe(record.id)
    const err = await fetchImage({ rpc: b.node.rpc, streams: b.node.libp2p, warehouse: b.warehouse, ref: record.id, peers: [c.node.peerId] }).catch(e => e)
    expect(err).toMatchObject({ name: 'ImageIntegrityError', imageId: record.id })
    expect(err.message).toMatch(/root's input/)
    expect(await b.warehouse.find(record.id)).toBeUndefined()
    expect(await readdir(b.warehouse.partialDir)).toEqual([])
  })

  it('detects a corrupted chunk and fetches it again', async () => {
    const { a, b, image, record } = await threeHosts()
    const corrupted = new Set<number>()
    a.hooks.corrupt = (_id, i) => { if ((i === 3 || i === 17) && !corrupted.has(i)) { corrupted.add(i); return true } return false }
    const r = await fetchImage({ rpc: b.node.rpc, streams: b.node.libp2p, warehouse: b.warehouse, ref: record.id, peers: [a.node.peerId] })
    expect(r.badChunks.map(x => x.index).sort((x, y) => x - y)).toEqual([3, 17])
    expect(r.badChunks.every(x => x.peer === a.node.peerId)).toBe(true)
    expect(r.chunksByPeer[a.node.peerId]).toBe(CHUNKS)
    expect(sha(await readFile(b.warehouse.imagePath(r.record)))).toBe(sha(image))
  })

  it('gives up a peer that keeps sending bad chunks and completes from an honest one', async () => {
    const { a, b, c, image, record } = await threeHosts()
    await fetchImage({ rpc: b.node.rpc, streams: b.node.libp2p, warehouse: b.warehouse, ref: record.id, peers: [a.node.peerId] })
    b.hooks.corrupt = () => true
    const r = await fetchImage({ rpc: c.node.rpc, streams: c.node.libp2p, warehouse: c.warehouse, ref: record.id, peers: [b.node.peerId, a.node.peerId] })
    expect(r.chunksByPeer[b.node.peerId]).toBeUndefined()
    expect(r.badChunks.filter(x => x.peer === b.node.peerId).length).toBeGreaterThanOrEqual(3)
    expect(r.chunksByPeer[a.node.peerId]).toBe(CHUNKS)
    expect(sha(await readFile(c.warehouse.imagePath(r.record)))).toBe(sha(image))
  })

  it('fetches a built image (id from its parameters) by its root, and refuses one whose manifest its root does not bind', async () => {
    const { a, b, c } = await threeHosts()
    const params = await normaliseBuild({ distro: 'debian', suite: 'bookworm', format: 'raw' })
    const built = randomBytes(3 * 1024 * 1024 + 1)
    const builtFile = await writeTo(join(a.stateDir, 'built.raw'), built)
    const record = await a.warehouse.add(imageIdOf(params), builtFile, { format: 'raw', params, source: 'build', names: ['built'] })
    const r = await fetchImage({ rpc: b.node.rpc, streams: b.node.libp2p, warehouse: b.warehouse, ref: 'image:built', peers: [a.node.peerId] })
    expect(r).toMatchObject({ verifiedBy: 'root', record: { v: 2, id: imageIdOf(params), params, source: 'fetch' } })
    expect(sha(await readFile(b.warehouse.imagePath(r.record)))).toBe(sha(built))
    // The builder's file swapped for another (and its manifest with it): the record's root no longer binds it.
    const other = randomBytes(built.byteLength)
    await writeFile(a.warehouse.imagePath(record), other)
    const forged = (await digestFile(await writeTo(join(a.stateDir, 'o.raw'), other))).chunkHashes
    a.warehouse.manifest = async () => forged
    const err = await fetchImage({ rpc: c.node.rpc, streams: c.node.libp2p, warehouse: c.warehouse, ref: 'image:built', peers: [a.node.peerId], requestTimeoutMs: 3_000 }).catch(e => e)
    expect(err).toMatchObject({ name: 'TransferIncompleteError', imageId: record.id })
    expect(await c.warehouse.find('built')).toBeUndefined()
  })

  it('says which peers it asked when nobody has the image', async () => {
    const { b, c } = await threeHosts()
    await expect(fetchImage({ rpc: b.node.rpc, streams: b.node.libp2p, warehouse: b.warehouse, ref: 'image:nowhere', peers: [c.node.peerId] })).rejects.toMatchObject({ name: 'ImageNotFoundError', ref: 'image:nowhere' })
  })
})

describe('the image service of a daemon', () => {
  it('resolves baseImage "image:NAME" on a host that lacks it by fetching from the live peers, once for concurrent asks', async () => {
    const { ImageService } = await import('../../node/images/service.ts')
    const { a, c, image, record } = await threeHosts()
    await c.server.stop()
    const fetched: string[] = []
    const service = new ImageService({ node: c.node, stateDir: c.stateDir, onFetch: (ref) => fetched.push(ref) })
    await service.start()
    await waitFor('peers known', () => service.candidates('x').length === 2)
    const resolve = service.resolver()
    const [p1, p2] = await Promise.all([resolve('image:debian-bookworm-minbase'), resolve('image:debian-bookworm-minbase')])
    expect(p1).toBe(p2)
    expect(fetched).toEqual(['image:debian-bookworm-minbase'])
    expect(sha(await readFile(p1))).toBe(sha(image))
    expect((await service.held()).map(h => h.id)).toEqual([record.id])
    expect(await resolve('/not/an/image/ref.img')).toBe('/not/an/image/ref.img')
    await service.stop()
    void a
  })

  it('a caller that gives up ends only its own wait; the transfer stops when the last waiter has gone', async () => {
    const { ImageService } = await import('../../node/images/service.ts')
    const { a, c, image, record } = await threeHosts()
    await c.server.stop()
    let release: () => void = () => {}
    let held = new Promise<void>(resolve => { release = resolve })
    let served = 0
    a.hooks.onChunk = async () => { if (++served > 2) await held }
    const service = new ImageService({ node: c.node, stateDir: c.stateDir, rescanMs: 0, transfer: { perPeer: 1, batch: 1 } })
    await service.start()
    await waitFor('peers known', () => service.candidates('x').length === 2)
    const one = new AbortController()
    const two = new AbortController()
    const p1 = service.fetch(record.id, { signal: one.signal })
    const p2 = service.fetch(record.id, { signal: two.signal })
    await waitFor('transfer stalled', () => served > 2)
    one.abort(new Error('first caller gave up'))
    await expect(p1).rejects.toThrow(/first caller gave up/)
    release()
    const r = await p2
    expect(r.record.id).toBe(record.id)
    expect(sha(await readFile(c.warehouse.imagePath(r.record)))).toBe(sha(image))
    // Now a lone waiter gives up: the transfer itself stops, keeping its chunks for the next time.
    const d = (await mesh.add('d.cern.ch', { bootstrap: [a.node.multiaddrs()[0]] }))
    const dService = new ImageService({ node: d, stateDir: await mesh.dir('d.cern.ch'), rescanMs: 0, transfer: { perPeer: 1, batch: 1 } })
    await dService.start()
    await waitFor('d sees a', () => dService.candidates('x').includes(a.node.peerId))
    served = 0
    held = new Promise<void>(resolve => { release = resolve })
    const lone = new AbortController()
    const p3 = dService.fetch(record.id, { signal: lone.signal })
    await waitFor('transfer stalled again', () => served > 2)
    lone.abort(new Error('gone'))
    await expect(p3).rejects.toThrow(/gone/)
    release()
    const again = await dService.fetch(record.id)
    expect(again.resumedChunks).toBeGreaterThanOrEqual(2)
    await dService.stop()
    await service.stop()
  })
})
