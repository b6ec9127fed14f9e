import type { DialTarget, Stream, StreamHandler } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import * as lp from 'it-length-prefixed'
import { Uint8ArrayList } from 'uint8arraylist'
import { ProtocolValidationError } from '../../protocol/errors.ts'
import { readFrame, writeFrame } from '../mesh/framing.ts'
import { sentBytesEncrypted } from './chunk-pool.ts'
import { IMAGE_CHUNK_PROTOCOL, MAX_CHUNK_BYTES } from './transfer-protocol.ts'

// Chunk bytes travel on a raw stream protocol rather than one rpc per chunk: one request names a batch of chunk
// indices, the server answers with one frame per chunk on the same stream. A 1 MiB request/response per stream
// spent most of its time opening streams and waiting for round trips; a batch keeps the stream's window full.
// Frame: [status u8][index u32 BE][bytes]; status 0 = the chunk, 1 = an error text (the server cannot give it).

export const MAX_BATCH = 64
const HEADER = 5

/** The part of a libp2p node the chunk stream needs (a MeshNode's libp2p fits). */
export interface StreamHost {
  handle (protocol: string, handler: StreamHandler, options?: { maxInboundStreams?: number, maxOutboundStreams?: number }): Promise<void>
  unhandle (protocol: string): Promise<void>
  dialProtocol (peer: DialTarget, protocols: string, options?: { signal?: AbortSignal }): Promise<Stream>
}

export interface BatchRequest { id: string, indices: number[] }

export function encodeBatch (req: BatchRequest): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(req))
}

export function decodeBatch (bytes: Uint8Array): BatchRequest {
  let v: BatchRequest
  try { v = JSON.parse(new TextDecoder().decode(bytes)) } catch { throw new ProtocolValidationError('', 'not JSON') }
  if (typeof v?.id !== 'string' || !/^[0-9a-f]{64}$/.test(v.id)) throw new ProtocolValidationError('id', 'expected a 64 hex digit image id')
  if (!Array.isArray(v.indices) || v.indices.length === 0 || v.indices.length > MAX_BATCH ||
    !v.indices.every(i => Number.isSafeInteger(i) && i >= 0 && i < 2 ** 32)) {
    throw new ProtocolValidationError('indices', `expected 1 to ${MAX_BATCH} chunk indices`)
  }
  return { id: v.id, indices: v.indices }
}

export interface ServeOptions {
  onBadRequest?: (peer: string, err: Error) => void
  /**
   * Called with a buffer `read` returned once nothing in the stack refers to it any more (chunk-pool.ts's safe
   * point), never for a stream that failed, was reset or aborted. Without it the buffers are the collector's.
   */
  release?: (buf: Uint8Array) => void
  /** How long a stalled receiver may hold a send. Default 30 s. */
  drainTimeoutMs?: number
}

/** Serves batches: `read` gives a chunk's bytes (or throws when it cannot). */
export async function handleChunkStreams (host: StreamHost, read: (id: string, index: number) => Promise<Uint8Array>, options: ServeOptions = {}): Promise<void> {
  await host.handle(IMAGE_CHUNK_PROTOCOL, (stream, connection) => {
    void (async () => {
      let req: BatchRequest
      try {
        req = decodeBatch(await readFrame(stream, 4096, { signal: AbortSignal.timeout(10_000) }))
      } catch (err) {
        options.onBadRequest?.(connection.remotePeer.toString(), err as Error)
        stream.abort(err as Error)
        return
      }
      const drainMs = options.drainTimeoutMs ?? 30_000
      // Buffers `read` gave that the stack may still refer to; dropped (not released) if the stream fails.
      const sent: Uint8Array[] = []
      const releaseSent = async (): Promise<void> => {
        if (options.release === undefined || sent.length === 0 || !await sentBytesEncrypted(stream)) return
        for (const b of sent.splice(0)) options.release(b)
      }
      try {
        for (const index of req.indices) {
          let status = 0
          let body: Uint8Array
          try {
            body = await read(req.id, index)
            sent.push(body)
          } catch (err) {
            status = 1
            body = new TextEncoder().encode(`${(err as Error).name}: ${(err as Error).message}`.slice(0, 1024))
          }
          const head = new Uint8Array(HEADER)
          head[0] = status
          new DataView(head.buffer).setUint32(1, index)
          const frame = lp.encode.single(new Uint8ArrayList(head, body))
          if (!stream.send(frame)) await stream.onDrain({ signal: AbortSignal.timeout(drainMs) })
          await releaseSent()
        }
        // The last buffers wait for the stream to drain into noise, as long as a stalled receiver may take.
        const deadline = AbortSignal.timeout(drainMs)
        while (sent.length > 0 && options.release !== undefined) {
          await releaseSent()
          if (sent.length === 0) break
          if (stream.status !== 'open' || stream.writeStatus !== 'writable') throw new ChunkStreamError(connection.remotePeer.toString(), `stream ${stream.status} before its chunks were sent`)
          await stream.onDrain({ signal: deadline })
          deadline.throwIfAborted()
        }
        await stream.close({ signal: AbortSignal.timeout(drainMs) })
      } catch (err) {
        stream.abort(err as Error)
      }
    })()
  }, { maxInboundStreams: 64 })
}

export class ChunkStreamError extends Error {
  override readonly name = 'ChunkStreamError'
  readonly peer: string
  constructor (peer: string, message: string, options?: { cause?: unknown }) {
    super(`${message} (peer ${peer})`, options)
    this.peer = peer
  }
}

/**
 * Asks `peer` for a batch and calls `onChunk` for each chunk as it arrives (in order), as the list of pieces it
 * arrived in (no 1 MiB concatenation). Resolves with the indices the peer answered with an error; throws
 * ChunkStreamError when the stream fails, after the chunks that did arrive.
 */
export async function requestChunks (host: StreamHost, peer: string, req: BatchRequest, onChunk: (index: number, bytes: Uint8ArrayList) => Promise<void>, options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<number[]> {
  const timeout = AbortSignal.timeout(options.timeoutMs ?? 30_000)
  const signal = options.signal != null ? AbortSignal.any([options.signal, timeout]) : timeout
  let stream: Stream
  try {
    stream = await host.dialProtocol(peerIdFromString(peer), IMAGE_CHUNK_PROTOCOL, { signal })
  } catch (err) {
    throw new ChunkStreamError(peer, `dial: ${(err as Error).message}`, { cause: err })
  }
  const refused: number[] = []
  const onAbort = (): void => { stream.abort(new Error('aborted')) }
  signal.addEventListener('abort', onAbort, { once: true })
  try {
    await writeFrame(stream, encodeBatch(req), { signal })
    const wanted = new Set(req.indices)
    for await (const frame of lp.decode(stream, { maxDataLength: MAX_CHUNK_BYTES + HEADER })) {
      // The frame stays in the pieces it arrived in (noise messages of at most 64 KiB): only the header is read.
      if (frame.byteLength < HEADER) throw new ChunkStreamError(peer, 'short chunk frame')
      const head = frame.subarray(0, HEADER)
      const index = new DataView(head.buffer, head.byteOffset, HEADER).getUint32(1)
      if (!wanted.delete(index)) throw new ChunkStreamError(peer, `unasked chunk ${index}`)
      if (head[0] === 0) await onChunk(index, frame.sublist(HEADER))
      else refused.push(index)
      if (wanted.size === 0) break
    }
    if (wanted.size > 0) throw new ChunkStreamError(peer, `stream ended with ${wanted.size} chunks missing`)
    await stream.close().catch(() => {})
    return refused
  } catch (err) {
    stream.abort(err as Error)
    if (err instanceof ChunkStreamError) throw err
    throw new ChunkStreamError(peer, timeout.aborted ? 'timed out' : (err as Error).message, { cause: err })
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}
