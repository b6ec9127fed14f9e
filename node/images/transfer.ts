import { createHash } from 'node:crypto'
import { access, open, readFile, rename, rm, writeFile } from 'node:fs/promises'
import type { FileHandle } from 'node:fs/promises'
import { join } from 'node:path'
import type { RpcHandler, RpcProtocolSpec } from '../mesh/rpc.ts'
import { ImageIntegrityError, ImageNotFoundError, TransferIncompleteError } from './errors.ts'
import { chunkCount, CONTENT_ROOT_TAG, DEFAULT_CHUNK_SIZE, digestFile, writeFileAtomic } from './files.ts'
import { ChunkPool } from './chunk-pool.ts'
import type { ChunkPoolOptions } from './chunk-pool.ts'
import { handleChunkStreams, MAX_BATCH, requestChunks } from './chunk-stream.ts'
import { ChunkSink } from './chunk-sink.ts'
import type { StreamHost } from './chunk-stream.ts'
import { IMAGE_CHUNK_PROTOCOL, imageInfoProtocol, imageManifestProtocol } from './transfer-protocol.ts'
import { contentIdOf, manifestMatches } from './warehouse.ts'
import type { Warehouse, ImageRecord } from './warehouse.ts'
import { memoryMode } from '../seams/memory-mode.ts'

// Peer-to-peer image transfer. Serving: answer info, manifest and chunk requests from the local warehouse.
// Fetching: learn the record from the peers that have the image, take the chunk manifest (checked against the
// record), then pull the missing chunks from all those peers at once, each chunk checked against its hash before it
// is written to a partial file whose bitmap survives an interruption. Only when every chunk is in, each matching
// a manifest bound to the record, is it moved into the warehouse: a half or wrong image is never used. A version 2
// record binds the manifest by its content root (an imported image's id), so the chunks are the image; a version 1
// record names its content by the whole file's sha256, which is then computed as the chunks land and compared.

/** The part of the mesh rpc the transfer needs (node/mesh/rpc.ts's Rpc fits). */
export interface ImageRpc {
  handle<Req, Res> (spec: RpcProtocolSpec<Req, Res>, handler: RpcHandler<Req, Res>): Promise<void>
  unhandle (spec: { id: string }): Promise<void>
  request<Req, Res> (peer: string, spec: RpcProtocolSpec<Req, Res>, req: Req, options?: { signal?: AbortSignal, timeoutMs?: number }): Promise<Res>
}

export interface ServeHooks {
  /** Test hook: return true to send this chunk with a flipped byte (a faulty or hostile server). */
  corrupt?: (id: string, index: number) => boolean
  /** Called after each chunk is read, before it is sent; a promise holds the chunk back (a slow or stalled peer). */
  onChunk?: (id: string, index: number) => void | Promise<void>
}

/**
 * Chunk buffers of DEFAULT_CHUNK_SIZE come from a pool and go back once noise has encrypted them (chunk-pool.ts).
 * Default: 64 kept (4 streams x 16-chunk batches: a stream's buffers mostly come back when its batch is flushed), dropped after
 * 10 s idle. `false`: a fresh buffer per chunk.
 */
export interface ImageServerOptions { pool?: Partial<ChunkPoolOptions> | false }

export class ImageServer {
  readonly #rpc: ImageRpc
  readonly #streams: StreamHost
  readonly #warehouse: Warehouse
  readonly #hooks: ServeHooks
  readonly #pool: ChunkPool | undefined
  /** Open image files by id: a 1 GiB image is 1,024 requests, not worth 1,024 opens. */
  readonly #files = new Map<string, Promise<{ fh: FileHandle, record: ImageRecord }>>()

  constructor (rpc: ImageRpc, streams: StreamHost, warehouse: Warehouse, hooks: ServeHooks = {}, options: ImageServerOptions = {}) {
    this.#rpc = rpc
    this.#streams = streams
    this.#warehouse = warehouse
    this.#hooks = hooks
    this.#pool = options.pool === false ? undefined : new ChunkPool({ size: DEFAULT_CHUNK_SIZE, max: 64, idleMs: 10_000, ...options.pool })
  }

  /** The pool's counters (undefined without a pool). */
  get poolStats (): ChunkPool['stats'] | undefined { return this.#pool?.stats }

  async start (): Promise<void> {
    await this.#rpc.handle(imageInfoProtocol, async (req) => ({ record: (await this.#warehouse.find(req.ref)) ?? null }))
    await this.#rpc.handle(imageManifestProtocol, async (req) => await this.#warehouse.manifest(req.id))
    const pool = this.#pool
    await handleChunkStreams(this.#streams, async (id, index) => await this.#chunk(id, index), pool === undefined ? {} : { release: buf => { pool.give(buf) } })
  }

  async stop (): Promise<void> {
    for (const spec of [imageInfoProtocol, imageManifestProtocol]) await this.#rpc.unhandle(spec).catch(() => {})
    await this.#streams.unhandle(IMAGE_CHUNK_PROTOCOL).catch(() => {})
    const files = [...this.#files.values()]
    this.#files.clear()
    for (const f of files) await f.then(({ fh }) => fh.close(), () => {})
    this.#pool?.clear()
  }

  async #open (id: string): Promise<{ fh: FileHandle, record: ImageRecord }> {
    let p = this.#files.get(id)
    if (p == null) {
      p = (async () => {
        const record = await this.#warehouse.get(id)
        return { fh: await open(this.#warehouse.imagePath(record), 'r'), record }
      })()
      this.#files.set(id, p)
      p.catch(() => { this.#files.delete(id) })
    }
    return await p
  }

  async #chunk (id: string, index: number): Promise<Uint8Array> {
    // Bulk work: V8 favours speed while chunks are read (node/seams/memory-mode.ts; it lingers between chunks).
    const release = memoryMode.holdThroughput()
    try { return await this.#readChunk(id, index) } finally { release() }
  }

  async #readChunk (id: string, index: number): Promise<Uint8Array> {
    const { fh, record } = await this.#open(id)
    const total = chunkCount(record.size, record.chunkSize)
    if (index >= total) throw new ImageNotFoundError(`${id}#${index}`, `an image of ${total} chunks`)
    const start = index * record.chunkSize
    const len = Math.min(record.chunkSize, record.size - start)
    const buf = this.#pool?.take(len) ?? Buffer.allocUnsafe(len)
    let filled = 0
    try {
      while (filled < len) {
        const { bytesRead } = await fh.read(buf, filled, len - filled, start + filled)
        if (bytesRead === 0) throw new ImageIntegrityError(id, 'image file shorter than its record')
        filled += bytesRead
      }
    } catch (err) {
      // Never sent: nothing else refers to it.
      this.#pool?.give(buf)
      throw err
    }
    await this.#hooks.onChunk?.(id, index)
    if (this.#hooks.corrupt?.(id, index) === true) buf[0] ^= 0xff
    return buf
  }
}

export interface FetchOptions {
  rpc: ImageRpc
  /** Carries the chunk streams (a MeshNode's libp2p). */
  streams: StreamHost
  warehouse: Warehouse
  /** Image id or name (with or without `image:`). */
  ref: string
  /** Peers to ask (those announcing the image first, ideally); peers that lack it are skipped. */
  peers: string[]
  /** Batch streams in flight per peer. Default DEFAULT_PER_PEER. */
  perPeer?: number
  /** Chunks asked for in one stream. Default DEFAULT_BATCH. */
  batch?: number
  /** Failures in a row after which a peer is given up (a dead peer fails fast). Default 3. */
  maxPeerFailures?: number
  /** Bad chunks after which a peer is given up. Default 3. */
  maxBadChunks?: number
  requestTimeoutMs?: number
  signal?: AbortSignal
  onProgress?: (p: { have: number, total: number, peer?: string }) => void
}

export interface FetchResult {
  record: ImageRecord
  /** Already in the warehouse: nothing fetched. */
  local: boolean
  /** Chunks received in this call, by peer. */
  chunksByPeer: Record<string, number>
  /** Chunks already in the partial file when this call started (a resumed transfer). */
  resumedChunks: number
  /** Chunks that failed their hash and were fetched again. */
  badChunks: Array<{ index: number, peer: string }>
  bytes: number
  durationMs: number
  /** CPU milliseconds of the sink's worker thread (hashing and writes), when chunks were fetched. */
  sinkCpuMs?: number
  /** Chunks the whole-file hash had to read back from the partial file (resumed, or kept nowhere as they landed). */
  readBackChunks?: number
  /** What bound the chunks to the record: a version 2 record's root, or (version 1) a pass over the whole file. */
  verifiedBy?: 'root' | 'sha256'
}

/** How often (in chunks) the bitmap of a partial file is saved. */
const BITMAP_EVERY = 64
/** Streams in flight per peer, and chunks asked for in one stream (simulations/bench/image-transfer.ts measures them). */
export const DEFAULT_PER_PEER = 4
export const DEFAULT_BATCH = 16

export async function fetchImage (o: FetchOptions): Promise<FetchResult> {
  const release = memoryMode.holdThroughput()
  try { return await fetchImageHeld(o) } finally { release() }
}

async function fetchImageHeld (o: FetchOptions): Promise<FetchResult> {
  const started = performance.now()
  const local = await o.warehouse.find(o.ref)
  const empty = { chunksByPeer: {}, resumedChunks: 0, badChunks: [], bytes: 0 }
  if (local != null) return { record: local, local: true, ...empty, durationMs: performance.now() - started }
  const { record, sources } = await chooseRecord(o)
  if (await o.warehouse.has(record.id)) return { record: await o.warehouse.get(record.id), local: true, ...empty, durationMs: performance.now() - started }
  const hashes = await fetchManifest(o, record, sources)
  const total = chunkCount(record.size, record.chunkSize)

  await o.warehouse.init()
  // Keyed by content too: two hosts may have built one id into different bytes.
  const base = join(o.warehouse.partialDir, `${record.id}-${contentIdOf(record).slice(0, 16)}`)
  const part = `${base}.part`
  const bitmapPath = `${base}.bitmap`
  const partExists = await exists(part)
  // A bitmap without its partial file describes nothing: start afresh.
  if (!partExists) await rm(bitmapPath, { force: true })
  const bitmap = await loadBitmap(bitmapPath, total)
  const fh = await open(part, partExists ? 'r+' : 'w+')
  const result: FetchResult = { record, local: false, chunksByPeer: {}, resumedChunks: 0, badChunks: [], bytes: 0, durationMs: 0 }
  const expectedHash = (index: number): Buffer => hashes.subarray(index * 32, index * 32 + 32)
  const expectedLen = (index: number): number => Math.min(record.chunkSize, record.size - index * record.chunkSize)
  const wholeFile = record.v === 1
  let wholeSha256: string | undefined
  try {
    await fh.truncate(record.size)
    // The partial file is not synced as chunks land (an fsync every 64 chunks stalled the transfer on the disk):
    // after a crash the bitmap may claim chunks the disk lost, so the chunks it claims are checked before they count.
    if (countSet(bitmap) > 0) await recheckClaimed(fh, bitmap, total, record.chunkSize, expectedLen, expectedHash)
  } finally {
    await fh.close()
  }
  result.resumedChunks = countSet(bitmap)
  const sink = new ChunkSink({ path: part, size: record.size, chunkSize: record.chunkSize, manifest: hashes, bitmap: bitmap.slice(), wholeFile })
  try {
    const queue: number[] = []
    for (let i = 0; i < total; i++) if (!isSet(bitmap, i)) queue.push(i)
    let sinceSave = 0
    let have = result.resumedChunks
    const save = async (): Promise<void> => { await writeFileQuick(bitmapPath, bitmap) }
    const tried: string[] = []
    let local: Error | undefined
    // A worker whose queue is empty waits while others still have chunks in flight: one of them may fail and
    // put its chunk back, and the peer that failed may be gone for good.
    let inFlight = 0
    let waiting: Array<() => void> = []
    const wake = (): void => { const w = waiting; waiting = []; for (const f of w) f() }
    o.signal?.addEventListener('abort', wake, { once: true })
    const worker = async (peer: string, state: { failures: number, bad: number, dropped: boolean }): Promise<void> => {
      const batchSize = Math.min(MAX_BATCH, Math.max(1, o.batch ?? DEFAULT_BATCH))
      while (!state.dropped) {
        o.signal?.throwIfAborted()
        if (local !== undefined) throw local
        if (queue.length === 0) {
          if (inFlight === 0) break
          await new Promise<void>(resolve => { waiting.push(resolve) })
          continue
        }
        const indices = queue.splice(0, batchSize)
        const received = new Set<number>()
        inFlight++
        let refused: number[] = []
        let failed = false
        try {
          refused = await requestChunks(o.streams, peer, { id: record.id, indices }, async (index, chunk) => {
            received.add(index)
            // Checked and written by the sink's thread, from the parts the stream delivered. A sink that fails (the
            // disk is full, the worker died) is this host's fault, not the peer's: it ends the whole fetch.
            let ok: boolean
            try {
              ok = chunk.byteLength === expectedLen(index) && await sink.put(index, [...chunk], chunk.byteLength)
            } catch (err) {
              local ??= err as Error
              throw err
            }
            if (!ok) {
              result.badChunks.push({ index, peer })
              received.delete(index)
              state.bad++
              if (state.bad >= (o.maxBadChunks ?? 3)) state.dropped = true
              return
            }
            if (isSet(bitmap, index)) return
            setBit(bitmap, index)
            result.bytes += chunk.byteLength
            result.chunksByPeer[peer] = (result.chunksByPeer[peer] ?? 0) + 1
            o.onProgress?.({ have: ++have, total, peer })
            if (++sinceSave >= BITMAP_EVERY) { sinceSave = 0; await save() }
          }, { signal: o.signal, timeoutMs: o.requestTimeoutMs ?? 30_000 })
        } catch (err) {
          if (o.signal?.aborted === true) throw err
          if (local !== undefined) throw local
          failed = true
        } finally {
          inFlight--
        }
        // Whatever did not arrive intact goes back, to the front: other workers (other peers) take it next.
        const back = indices.filter(i => !received.has(i))
        queue.unshift(...back)
        if (failed || refused.length > 0) {
          state.failures++
          if (state.failures >= (o.maxPeerFailures ?? 3)) state.dropped = true
        } else if (back.length === 0) {
          state.failures = 0
        }
        wake()
      }
    }
    const runWorker = async (peer: string, state: { failures: number, bad: number, dropped: boolean }): Promise<void> => {
      try { await worker(peer, state) } finally { wake() }
    }
    const workers: Array<Promise<void>> = []
    for (const peer of sources) {
      tried.push(peer)
      const state = { failures: 0, bad: 0, dropped: false }
      for (let k = 0; k < (o.perPeer ?? DEFAULT_PER_PEER); k++) workers.push(runWorker(peer, state))
    }
    const settled = await Promise.allSettled(workers)
    o.signal?.removeEventListener('abort', wake)
    await save()
    if (local !== undefined) throw local
    const haveNow = countSet(bitmap)
    if (haveNow < total) {
      const aborted = settled.find(s => s.status === 'rejected')
      throw new TransferIncompleteError(record.id, haveNow, total, tried, aborted != null ? `abort: ${String((aborted as PromiseRejectedResult).reason)}` : 'every peer failed or went away')
    }
    wholeSha256 = await sink.finish()
    result.sinkCpuMs = sink.workerCpuMs
    result.readBackChunks = sink.readBackChunks
  } finally {
    await sink.close()
  }
  result.verifiedBy = wholeFile ? 'sha256' : 'root'
  // Version 1: each chunk matched its hash; the whole file must also match the record before anything may use it
  // (for an imported image the record's id is that checksum: the manifest alone is only the serving peer's word).
  if (record.v === 1 && record.params == null && await beginsWith(part, CONTENT_ROOT_TAG)) {
    await rm(part, { force: true })
    await rm(bitmapPath, { force: true })
    throw new ImageIntegrityError(record.id, 'a version 1 import made of a content root\'s input: its id would name another image')
  }
  if (record.v === 1 && wholeSha256 !== record.sha256) {
    // Chunks on disk that no longer match: forget them so the next call refetches.
    const onDisk = await digestFile(part, record.chunkSize)
    const bitmapNow = await loadBitmap(bitmapPath, total)
    for (let i = 0; i < total; i++) {
      if (!onDisk.chunkHashes.subarray(i * 32, i * 32 + 32).equals(expectedHash(i))) clearBit(bitmapNow, i)
    }
    await writeFileAtomic(bitmapPath, bitmapNow)
    throw new ImageIntegrityError(record.id, 'assembled file does not match the record checksum; bad chunks will be fetched again')
  }
  const installed = await o.warehouse.installFetched(record, part, hashes)
  await rm(bitmapPath, { force: true })
  result.record = installed
  result.durationMs = performance.now() - started
  return result
}

/** Asks every peer for its record; keeps the content most peers agree on. */
async function chooseRecord (o: FetchOptions): Promise<{ record: ImageRecord, sources: string[] }> {
  const answers = await Promise.all(o.peers.map(async peer => {
    try {
      const res = await o.rpc.request(peer, imageInfoProtocol, { ref: o.ref }, { signal: o.signal, timeoutMs: o.requestTimeoutMs ?? 10_000 })
      return { peer, record: res.record }
    } catch {
      return { peer, record: null }
    }
  }))
  const groups = new Map<string, { record: ImageRecord, peers: string[] }>()
  for (const a of answers) {
    if (a.record == null) continue
    const key = `${a.record.id}/${contentIdOf(a.record)}/${a.record.v === 1 ? a.record.manifestRoot : ''}`
    const g = groups.get(key) ?? { record: a.record, peers: [] }
    g.peers.push(a.peer)
    groups.set(key, g)
  }
  const best = [...groups.values()].sort((a, b) => b.peers.length - a.peers.length)[0]
  if (best == null) throw new ImageNotFoundError(o.ref, `any of ${o.peers.length} peers`)
  return { record: best.record, sources: best.peers }
}

async function fetchManifest (o: FetchOptions, record: ImageRecord, sources: string[]): Promise<Buffer> {
  const want = chunkCount(record.size, record.chunkSize) * 32
  for (const peer of sources) {
    try {
      const bytes = Buffer.from(await o.rpc.request(peer, imageManifestProtocol, { id: record.id }, { signal: o.signal, timeoutMs: o.requestTimeoutMs ?? 30_000 }))
      if (bytes.byteLength === want && manifestMatches(record, bytes)) return bytes
    } catch {}
  }
  throw new TransferIncompleteError(record.id, 0, chunkCount(record.size, record.chunkSize), sources, 'no peer gave a manifest matching the record')
}

function sha256Of (parts: Iterable<Uint8Array>): Buffer {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}

/** Clears the bits of claimed chunks whose bytes on disk do not match the manifest (lost in a crash). */
async function recheckClaimed (fh: FileHandle, bitmap: Uint8Array, total: number, chunkSize: number, len: (i: number) => number, expected: (i: number) => Buffer): Promise<void> {
  const buf = Buffer.allocUnsafe(chunkSize)
  for (let i = 0; i < total; i++) {
    if (!isSet(bitmap, i)) continue
    const n = len(i)
    const { bytesRead } = await fh.read(buf, 0, n, i * chunkSize)
    if (bytesRead !== n || !sha256Of([buf.subarray(0, n)]).equals(expected(i))) clearBit(bitmap, i)
  }
}

/** Rename-into-place without fsync: the bitmap is a hint that recheckClaimed verifies, not a promise. */
async function writeFileQuick (path: string, data: Uint8Array): Promise<void> {
  const tmp = `${path}.tmp`
  await writeFile(tmp, data)
  await rename(tmp, path)
}

async function beginsWith (path: string, prefix: string): Promise<boolean> {
  const want = Buffer.from(prefix)
  const fh = await open(path, 'r')
  try {
    const got = Buffer.alloc(want.byteLength)
    const { bytesRead } = await fh.read(got, 0, got.byteLength, 0)
    return bytesRead === got.byteLength && got.equals(want)
  } finally {
    await fh.close()
  }
}

async function exists (path: string): Promise<boolean> {
  try { await access(path); return true } catch { return false }
}

async function loadBitmap (path: string, total: number): Promise<Uint8Array> {
  const size = Math.ceil(total / 8)
  try {
    const b = new Uint8Array(await readFile(path))
    if (b.byteLength === size) return b
  } catch {}
  const fresh = new Uint8Array(size)
  await writeFile(path, fresh)
  return fresh
}

function isSet (b: Uint8Array, i: number): boolean { return (b[i >> 3] & (1 << (i & 7))) !== 0 }
function setBit (b: Uint8Array, i: number): void { b[i >> 3] |= 1 << (i & 7) }
function clearBit (b: Uint8Array, i: number): void { b[i >> 3] &= ~(1 << (i & 7)) }
function countSet (b: Uint8Array): number {
  let n = 0
  for (const byte of b) { let x = byte; while (x !== 0) { n += x & 1; x >>= 1 } }
  return n
}
