import type { Stream } from '@libp2p/interface'
import * as lp from 'it-length-prefixed'
import { MessageTooLargeError } from '../../protocol/errors.ts'

// One length-prefixed frame (unsigned varint length, then the bytes) on a libp2p stream. The length is checked
// against the bound before a single byte of the body is buffered.

export class StreamEndedError extends Error {
  override readonly name = 'StreamEndedError'
  constructor () { super('stream ended before a whole frame arrived') }
}

/** Writes one frame, waiting for the stream to drain when its buffer is full. */
export async function writeFrame (stream: Stream, bytes: Uint8Array, options: { signal?: AbortSignal } = {}): Promise<void> {
  if (!stream.send(lp.encode.single(bytes))) await stream.onDrain(options)
}

/**
 * Reads exactly one frame of at most `maxBytes`. Throws MessageTooLargeError for an announced length over the
 * bound, StreamEndedError when the stream ends first, or the signal's reason when aborted.
 */
export async function readFrame (stream: Stream, maxBytes: number, options: { signal?: AbortSignal, peer?: string } = {}): Promise<Uint8Array> {
  let announced = 0
  const frames = lp.decode(stream, { maxDataLength: maxBytes, onLength: (n) => { announced = n } })
  const next = frames.next()
  next.catch(() => {}) // when the abort wins the race, the read failing later is expected
  const signal = options.signal
  let onAbort: (() => void) | undefined
  const aborted = new Promise<never>((_resolve, reject) => {
    if (signal == null) return
    onAbort = () => { reject(signal.reason) }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
  })
  try {
    const r = await Promise.race([next, aborted])
    if (r.done === true) throw new StreamEndedError()
    return r.value.subarray()
  } catch (err) {
    const name = (err as Error)?.name
    if (name === 'InvalidDataLengthError') {
      throw new MessageTooLargeError(announced > 0 ? announced : maxBytes + 1, maxBytes, options.peer != null ? { peer: options.peer } : {})
    }
    if (name === 'UnexpectedEOFError') throw new StreamEndedError()
    throw err
  } finally {
    if (onAbort != null) signal?.removeEventListener('abort', onAbort)
    void frames.return?.(undefined).catch(() => {})
  }
}
