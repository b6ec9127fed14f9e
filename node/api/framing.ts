import { MAX_FRAME_BYTES } from './messages.ts'

// Frames of the control API: a 4-byte big-endian length, then that many bytes of UTF-8 JSON. Length-prefixed rather
// than newline-delimited so a frame's size is known before its body is buffered: an oversized frame is refused from
// its header, without holding 16 MiB of garbage first.

export class FrameTooLargeError extends Error {
  override readonly name = 'FrameTooLargeError'
  readonly size: number
  readonly limit: number
  constructor (size: number, limit: number) {
    super(`frame of ${size} bytes exceeds the limit of ${limit} bytes`)
    this.size = size
    this.limit = limit
  }
}

export class FrameDecodeError extends Error {
  override readonly name = 'FrameDecodeError'
}

export function encodeFrame (value: unknown, limit = MAX_FRAME_BYTES): Buffer {
  const body = Buffer.from(JSON.stringify(value), 'utf8')
  if (body.length > limit) throw new FrameTooLargeError(body.length, limit)
  const header = Buffer.allocUnsafe(4)
  header.writeUInt32BE(body.length, 0)
  return Buffer.concat([header, body])
}

/** One decoded frame: the parsed JSON, or the reason it could not be parsed (the stream stays in sync either way). */
export type Decoded = { ok: true, value: unknown } | { ok: false, error: FrameDecodeError }

/**
 * Incremental decoder: feed it socket chunks, get whole frames. Throws FrameTooLargeError as soon as a header announces
 * more than the limit; after that the connection must be closed (the stream cannot be trusted to resynchronise).
 */
export class FrameDecoder {
  readonly #limit: number
  #chunks: Buffer[] = []
  #buffered = 0

  constructor (limit = MAX_FRAME_BYTES) {
    this.#limit = limit
  }

  get buffered (): number { return this.#buffered }

  push (chunk: Buffer): Decoded[] {
    this.#chunks.push(chunk)
    this.#buffered += chunk.length
    const out: Decoded[] = []
    while (this.#buffered >= 4) {
      const head = this.#peek(4)
      const size = head.readUInt32BE(0)
      if (size > this.#limit) throw new FrameTooLargeError(size, this.#limit)
      if (this.#buffered < 4 + size) break
      const frame = this.#take(4 + size).subarray(4)
      out.push(parseBody(frame))
    }
    return out
  }

  #peek (n: number): Buffer {
    if (this.#chunks[0]!.length >= n) return this.#chunks[0]!
    const joined = Buffer.concat(this.#chunks)
    this.#chunks = [joined]
    return joined
  }

  #take (n: number): Buffer {
    const first = this.#peek(n)
    const taken = first.subarray(0, n)
    const rest = first.subarray(n)
    this.#chunks[0] = rest
    if (rest.length === 0) this.#chunks.shift()
    this.#buffered -= n
    return taken
  }
}

function parseBody (body: Buffer): Decoded {
  let text: string
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(body)
  } catch {
    return { ok: false, error: new FrameDecodeError('frame is not valid UTF-8') }
  }
  try {
    return { ok: true, value: JSON.parse(text) }
  } catch (err) {
    return { ok: false, error: new FrameDecodeError(`frame is not JSON: ${(err as Error).message.slice(0, 200)}`) }
  }
}
