import net from 'node:net'
import { chmod, unlink } from 'node:fs/promises'
import type { Request, RequestId, Response, StreamItem } from './messages.ts'
import { ApiRequestError, MAX_FRAME_BYTES, parseRequest, requestIdOf, toWireError } from './messages.ts'
import { FrameDecoder, FrameTooLargeError, encodeFrame } from './framing.ts'
import { prepareSocketPath } from './socket-path.ts'

// The control API server: a Unix socket, length-prefixed JSON frames, many requests in flight per connection
// (answered by id), streaming answers for `deploy --wait`, `logs --follow` and `events`. Whatever a client sends, the
// worst outcome is an error frame and a closed connection for that client; the daemon goes on.

export interface ApiContext {
  /** Sends one stream frame before the final answer. */
  emit (item: StreamItem): void
  /** Aborted when the client cancels the request or goes away. */
  signal: AbortSignal
}

export interface ApiHandler {
  /** Answers one validated request; the resolved value is the `result` frame, a throw the `error` frame. */
  handle (req: Request, ctx: ApiContext): Promise<unknown>
}

export interface ApiServerLog {
  warn (obj: object, msg: string): void
  debug (obj: object, msg: string): void
}

export interface ApiServerOptions {
  path: string
  handler: ApiHandler
  log?: ApiServerLog
  maxFrameBytes?: number
  /** In-flight requests per connection; more are refused with an error frame. */
  maxInFlight?: number
  /** Bytes queued towards a client that does not read (e.g. a stalled `logs --follow`) before it is dropped. */
  maxQueuedBytes?: number
}

const silent: ApiServerLog = { warn () {}, debug () {} }

export class ApiServer {
  readonly path: string
  readonly #handler: ApiHandler
  readonly #log: ApiServerLog
  readonly #maxFrame: number
  readonly #maxInFlight: number
  readonly #maxQueued: number
  readonly #connections = new Set<Connection>()
  #server: net.Server | undefined

  constructor (options: ApiServerOptions) {
    this.path = options.path
    this.#handler = options.handler
    this.#log = options.log ?? silent
    this.#maxFrame = options.maxFrameBytes ?? MAX_FRAME_BYTES
    this.#maxInFlight = options.maxInFlight ?? 256
    this.#maxQueued = options.maxQueuedBytes ?? 64 * 1024 * 1024
  }

  /** Refuses to start over a live daemon's socket, removes a stale one, listens with mode 0600. */
  async listen (): Promise<void> {
    await prepareSocketPath(this.path)
    const server = net.createServer(socket => { this.#accept(socket) })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      // The umask makes the socket 0600 from its creation: no window in which another user could connect. Node binds a
      // Unix socket synchronously inside listen(), so the umask is restored before any other code runs.
      const old = process.umask(0o177)
      try {
        server.listen(this.path, () => { server.off('error', reject); resolve() })
      } finally {
        process.umask(old)
      }
    })
    await chmod(this.path, 0o600)
    server.on('error', err => { this.#log.warn({ err }, 'control API server error') })
    this.#server = server
  }

  get connections (): number { return this.#connections.size }

  /** Stops accepting, aborts in-flight requests, closes every connection and removes the socket. */
  async close (): Promise<void> {
    const server = this.#server
    if (!server) return
    this.#server = undefined
    const closed = new Promise<void>(resolve => server.close(() => { resolve() }))
    for (const c of this.#connections) c.destroy()
    await closed
    // libuv unlinks the socket on close; make sure, so the next daemon never sees a stale one from us.
    await unlink(this.path).catch(() => {})
  }

  #accept (socket: net.Socket): void {
    const conn = new Connection(socket, this.#handler, this.#log, this.#maxFrame, this.#maxInFlight, this.#maxQueued)
    this.#connections.add(conn)
    socket.once('close', () => { this.#connections.delete(conn) })
  }
}

class Connection {
  readonly #socket: net.Socket
  readonly #handler: ApiHandler
  readonly #log: ApiServerLog
  readonly #maxFrame: number
  readonly #maxInFlight: number
  readonly #maxQueued: number
  readonly #decoder: FrameDecoder
  readonly #inFlight = new Map<RequestId, AbortController>()
  #closed = false

  constructor (socket: net.Socket, handler: ApiHandler, log: ApiServerLog, maxFrame: number, maxInFlight: number, maxQueued: number) {
    this.#socket = socket
    this.#handler = handler
    this.#log = log
    this.#maxFrame = maxFrame
    this.#maxInFlight = maxInFlight
    this.#maxQueued = maxQueued
    this.#decoder = new FrameDecoder(maxFrame)
    socket.on('data', chunk => { this.#onData(chunk) })
    socket.on('error', err => { this.#log.debug({ err }, 'control API connection error') })
    socket.on('close', () => { this.#teardown() })
  }

  destroy (): void {
    this.#teardown()
    this.#socket.destroy()
  }

  #teardown (): void {
    if (this.#closed) return
    this.#closed = true
    for (const c of this.#inFlight.values()) c.abort(new Error('client went away'))
    this.#inFlight.clear()
  }

  #onData (chunk: Buffer): void {
    let frames
    try {
      frames = this.#decoder.push(chunk)
    } catch (err) {
      if (err instanceof FrameTooLargeError) {
        this.#log.warn({ size: err.size }, 'control API: oversized frame, closing the connection')
        this.#send({ id: null, type: 'error', error: toWireError(err) })
        this.#socket.end()
        this.#teardown()
        return
      }
      throw err
    }
    for (const f of frames) {
      if (this.#closed) return
      if (!f.ok) {
        this.#send({ id: null, type: 'error', error: toWireError(f.error) })
        continue
      }
      this.#dispatch(f.value)
    }
  }

  #dispatch (raw: unknown): void {
    let req: Request
    try {
      req = parseRequest(raw)
    } catch (err) {
      this.#send({ id: requestIdOf(raw), type: 'error', error: toWireError(err) })
      return
    }
    if (req.op === 'cancel') {
      this.#inFlight.get(req.target)?.abort(new Error('cancelled by the client'))
      this.#send({ id: req.id, type: 'result', result: {} })
      return
    }
    if (this.#inFlight.has(req.id)) {
      this.#send({ id: req.id, type: 'error', error: toWireError(new ApiRequestError('is already in flight on this connection', 'id')) })
      return
    }
    if (this.#inFlight.size >= this.#maxInFlight) {
      this.#send({ id: req.id, type: 'error', error: toWireError(new ApiRequestError(`more than ${this.#maxInFlight} requests in flight`)) })
      return
    }
    const controller = new AbortController()
    this.#inFlight.set(req.id, controller)
    const id = req.id
    const ctx: ApiContext = {
      signal: controller.signal,
      emit: item => { if (!controller.signal.aborted) this.#send({ id, type: 'stream', item }) }
    }
    // A handler that throws synchronously is caught the same way as one that rejects.
    Promise.resolve().then(async () => await this.#handler.handle(req, ctx)).then(
      result => { this.#finish(id, controller, { id, type: 'result', result: result ?? {} }) },
      err => { this.#finish(id, controller, { id, type: 'error', error: toWireError(err) }) }
    )
  }

  #finish (id: RequestId, controller: AbortController, response: Response): void {
    if (this.#inFlight.get(id) === controller) this.#inFlight.delete(id)
    this.#send(response)
  }

  #send (response: Response): void {
    if (this.#closed || this.#socket.destroyed) return
    let frame: Buffer
    try {
      frame = encodeFrame(response, this.#maxFrame)
    } catch (err) {
      // An answer too big for a frame (a huge log, say) becomes an error, not a broken stream.
      if (response.type === 'error' || response.id === null) return
      frame = encodeFrame({ id: response.id, type: 'error', error: toWireError(err) })
    }
    this.#socket.write(frame)
    if (this.#socket.writableLength > this.#maxQueued) {
      this.#log.warn({ queued: this.#socket.writableLength }, 'control API: client does not read, dropping it')
      this.destroy()
    }
  }
}
