import net from 'node:net'
import type { KeyObject } from 'node:crypto'
import { isAction, requiresSignature } from '../../protocol/auth/index.ts'
import { actionOf, signApiRequest } from '../security/request-auth.ts'
import type { Request, RequestId, ResultOf, StreamItem, WireError } from './messages.ts'
import { MAX_FRAME_BYTES } from './messages.ts'
import { FrameDecoder, encodeFrame } from './framing.ts'

// The control API client: one connection, requests multiplexed by id. Used by the CLI and by tests.

/** No daemon answers at the path: the CLI's "is the daemon running?" message. */
export class DaemonNotRunningError extends Error {
  override readonly name = 'DaemonNotRunningError'
  readonly path: string
  constructor (path: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException).code
    const why = code === 'ENOENT' ? 'no such socket' : code === 'ECONNREFUSED' ? 'nothing listens there (stale socket)' : code === 'EACCES' ? 'permission denied' : String((cause as Error).message ?? cause)
    super(`no sdpeer daemon at ${path} (${why}); start one with \`sdpeer join\`, or point --api / SDPEER_API at its socket`, { cause })
    this.path = path
  }
}

/** The daemon answered with an error: keeps the daemon-side class name (EngineError, ApiRequestError...). */
export class ApiRemoteError extends Error {
  override readonly name = 'ApiRemoteError'
  readonly remoteName: string
  readonly pool: string | undefined
  readonly path: string | undefined
  constructor (e: WireError) {
    super(e.message)
    this.remoteName = e.name
    this.pool = e.pool
    this.path = e.path
  }
}

/** The connection broke or the daemon sent something that is not a valid answer. */
export class ApiConnectionError extends Error {
  override readonly name = 'ApiConnectionError'
}

export interface ApiClientOptions {
  /** The operator's private key: every request that changes something is signed with it (protocol/auth). Without
   * one, requests go unsigned and the daemon decides (an --insecure daemon runs them, a secure one refuses). */
  operatorKey?: KeyObject
}

// Defaults the daemon's parseRequest fills in: the client sends them explicitly, so the request it signs is exactly
// the request the daemon verifies.
const DEFAULTS: Partial<Record<Request['op'], Record<string, unknown>>> = {
  deploy: { wait: false },
  terminate: { type: 'normal' },
  logs: { follow: false }
}

/** Whether requests of this op must be signed (unknown ops are left to the daemon). */
function signs (op: string): boolean {
  const action = op === 'cancel' ? 'ping' : op
  return isAction(action) && requiresSignature(actionOf(op))
}

type Params<O extends Request['op']> = Omit<Extract<Request, { op: O }>, 'id' | 'op'>

interface Pending {
  resolve (v: unknown): void
  reject (e: Error): void
  onItem?: (item: StreamItem) => void
}

export class ApiClient {
  readonly path: string
  readonly #socket: net.Socket
  readonly #decoder = new FrameDecoder(MAX_FRAME_BYTES)
  readonly #pending = new Map<RequestId, Pending>()
  readonly #operatorKey: KeyObject | undefined
  #nextId = 1
  #error: Error | undefined

  private constructor (path: string, socket: net.Socket, options: ApiClientOptions) {
    this.path = path
    this.#socket = socket
    this.#operatorKey = options.operatorKey
    socket.on('data', chunk => { this.#onData(chunk) })
    socket.on('error', err => { this.#fail(new ApiConnectionError(`control API connection: ${err.message}`)) })
    socket.on('close', () => { this.#fail(new ApiConnectionError('the daemon closed the connection')) })
  }

  static async connect (path: string, options: ApiClientOptions = {}): Promise<ApiClient> {
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect(path)
      s.once('connect', () => { s.off('error', reject); resolve(s) })
      s.once('error', err => { reject(new DaemonNotRunningError(path, err)) })
    })
    return new ApiClient(path, socket, options)
  }

  /** Whether this client signs its changing requests. */
  get signing (): boolean { return this.#operatorKey !== undefined }

  /** The request as sent: defaults explicit, through JSON (what the daemon will parse), signed when it changes something. */
  #prepare (op: string, params: Record<string, unknown>, id: number): Record<string, unknown> {
    const req = JSON.parse(JSON.stringify({ ...DEFAULTS[op as Request['op']], ...params, id, op })) as Record<string, unknown> & { op: string }
    if (this.#operatorKey === undefined || !signs(op)) return req
    return signApiRequest(this.#operatorKey, req)
  }

  /** Sends a request and resolves with its result; stream frames go to `onItem`. */
  async call<O extends Request['op']> (op: O, params: Params<O>, options: { onItem?: (item: StreamItem) => void, signal?: AbortSignal } = {}): Promise<ResultOf[O]> {
    if (this.#error) throw this.#error
    const id = this.#nextId++
    const frame = encodeFrame(this.#prepare(op, params as Record<string, unknown>, id))
    const result = new Promise<unknown>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject, ...(options.onItem ? { onItem: options.onItem } : {}) })
    })
    const signal = options.signal
    const onAbort = (): void => {
      if (this.#pending.has(id) && !this.#socket.destroyed) this.#socket.write(encodeFrame({ id: this.#nextId++, op: 'cancel', target: id }))
    }
    if (signal?.aborted) onAbort()
    signal?.addEventListener('abort', onAbort, { once: true })
    this.#socket.write(frame)
    try {
      return await result as ResultOf[O]
    } finally {
      signal?.removeEventListener('abort', onAbort)
    }
  }

  close (): void {
    this.#socket.end()
    this.#socket.destroy()
  }

  #onData (chunk: Buffer): void {
    let frames
    try {
      frames = this.#decoder.push(chunk)
    } catch (err) {
      this.#fail(new ApiConnectionError(`bad frame from the daemon: ${(err as Error).message}`))
      this.#socket.destroy()
      return
    }
    for (const f of frames) {
      if (!f.ok) { this.#fail(new ApiConnectionError(`bad frame from the daemon: ${f.error.message}`)); return }
      this.#onResponse(f.value)
    }
  }

  #onResponse (raw: unknown): void {
    if (typeof raw !== 'object' || raw === null) return
    const r = raw as { id?: RequestId | null, type?: string, result?: unknown, error?: WireError, item?: StreamItem }
    if (r.id === null || r.id === undefined) {
      // A connection-level error (bad frame, oversized frame): fails every pending request.
      if (r.type === 'error' && r.error) this.#fail(new ApiRemoteError(r.error))
      return
    }
    const p = this.#pending.get(r.id)
    if (!p) return
    if (r.type === 'stream') { if (r.item) p.onItem?.(r.item); return }
    this.#pending.delete(r.id)
    if (r.type === 'result') p.resolve(r.result)
    else if (r.type === 'error' && r.error) p.reject(new ApiRemoteError(r.error))
    else p.reject(new ApiConnectionError(`unexpected answer type ${String(r.type)}`))
  }

  #fail (err: Error): void {
    this.#error ??= err
    for (const p of this.#pending.values()) p.reject(err)
    this.#pending.clear()
  }
}
