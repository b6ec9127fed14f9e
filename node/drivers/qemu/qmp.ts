import { connect } from 'node:net'
import type { Socket } from 'node:net'

// A small QMP client (QEMU Machine Protocol, JSON lines over the domain's Unix socket): greeting, capabilities
// negotiation, commands answered in order, asynchronous events kept apart. QEMU serves one QMP client at a time on
// a `server,nowait` socket, so the driver opens a session per operation and closes it at once; holding one open
// would block the next daemon (or an operator's `socat`) from talking to the guest.

export class QmpError extends Error {
  override readonly name = 'QmpError'
  readonly socketPath: string
  /** QMP's error class (`GenericError`, `CommandNotFound`...) when QEMU answered with an error. */
  readonly errorClass: string | undefined
  constructor (socketPath: string, message: string, errorClass?: string, options?: { cause?: unknown }) {
    super(`qmp ${socketPath}: ${message}`, options)
    this.socketPath = socketPath
    this.errorClass = errorClass
  }
}

export interface QmpEvent {
  event: string
  data?: Record<string, unknown>
  timestamp?: { seconds: number, microseconds: number }
}

interface Pending {
  command: string
  resolve: (value: unknown) => void
  reject: (error: Error) => void
}

export class QmpSession {
  readonly socketPath: string
  readonly events: QmpEvent[] = []
  readonly #socket: Socket
  #buffer = ''
  #pending: Pending[] = []
  #greeting: ((v: unknown) => void) | undefined
  #closedError: Error | undefined

  private constructor (socketPath: string, socket: Socket) {
    this.socketPath = socketPath
    this.#socket = socket
    socket.setEncoding('utf8')
    socket.on('data', (chunk: string) => this.#onData(chunk))
    socket.on('error', err => this.#fail(new QmpError(socketPath, `socket error: ${err.message}`, undefined, { cause: err })))
    socket.on('close', () => this.#fail(new QmpError(socketPath, 'connection closed by qemu')))
  }

  /** Connects, reads the greeting and negotiates capabilities. Rejects with QmpError (ENOENT/ECONNREFUSED while qemu starts). */
  static async open (socketPath: string, options: { timeoutMs?: number, signal?: AbortSignal } = {}): Promise<QmpSession> {
    const timeoutMs = options.timeoutMs ?? 3_000
    const socket = await new Promise<Socket>((resolve, reject) => {
      const s = connect(socketPath)
      const onError = (err: NodeJS.ErrnoException): void => { s.destroy(); reject(new QmpError(socketPath, `cannot connect: ${err.code ?? err.message}`, undefined, { cause: err })) }
      s.once('error', onError)
      s.once('connect', () => { s.off('error', onError); resolve(s) })
    })
    const session = new QmpSession(socketPath, socket)
    try {
      await session.#withTimeout(new Promise(resolve => { session.#greeting = resolve }), timeoutMs, 'greeting', options.signal)
      await session.execute('qmp_capabilities', undefined, options)
      return session
    } catch (err) {
      session.close()
      throw err
    }
  }

  /** Runs one command; resolves with its `return` value, rejects with QmpError on an error reply, timeout or close. */
  execute (command: string, args?: Record<string, unknown>, options: { timeoutMs?: number, signal?: AbortSignal } = {}): Promise<unknown> {
    if (this.#closedError !== undefined) return Promise.reject(this.#closedError)
    const reply = new Promise<unknown>((resolve, reject) => { this.#pending.push({ command, resolve, reject }) })
    this.#socket.write(JSON.stringify(args === undefined ? { execute: command } : { execute: command, arguments: args }) + '\n')
    return this.#withTimeout(reply, options.timeoutMs ?? 3_000, command, options.signal)
  }

  close (): void {
    this.#fail(new QmpError(this.socketPath, 'session closed'))
    this.#socket.destroy()
  }

  #onData (chunk: string): void {
    this.#buffer += chunk
    let nl: number
    while ((nl = this.#buffer.indexOf('\n')) >= 0) {
      const line = this.#buffer.slice(0, nl).trim()
      this.#buffer = this.#buffer.slice(nl + 1)
      if (line !== '') this.#onMessage(line)
    }
  }

  #onMessage (line: string): void {
    let msg: Record<string, unknown>
    try {
      msg = JSON.parse(line) as Record<string, unknown>
    } catch {
      this.#fail(new QmpError(this.socketPath, `not JSON: ${line.slice(0, 200)}`))
      return
    }
    if ('QMP' in msg) { this.#greeting?.(msg.QMP); this.#greeting = undefined; return }
    if (typeof msg.event === 'string') { this.events.push(msg as unknown as QmpEvent); return }
    const pending = this.#pending.shift()
    if (pending === undefined) return
    if ('error' in msg) {
      const e = msg.error as { class?: string, desc?: string }
      pending.reject(new QmpError(this.socketPath, `${pending.command}: ${e.desc ?? 'error'}`, e.class))
    } else {
      pending.resolve(msg.return)
    }
  }

  #fail (error: Error): void {
    if (this.#closedError !== undefined) return
    this.#closedError = error
    for (const p of this.#pending.splice(0)) p.reject(error)
  }

  #withTimeout<T> (p: Promise<T>, ms: number, what: string, signal?: AbortSignal): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => { done(); reject(new QmpError(this.socketPath, `${what}: no answer within ${ms} ms`)) }, ms)
      const onAbort = (): void => { done(); reject(signal?.reason instanceof Error ? signal.reason : new QmpError(this.socketPath, `${what}: aborted`)) }
      const done = (): void => { clearTimeout(timer); signal?.removeEventListener('abort', onAbort) }
      if (signal?.aborted) { onAbort(); return }
      signal?.addEventListener('abort', onAbort, { once: true })
      p.then(v => { done(); resolve(v) }, (e: unknown) => { done(); reject(e instanceof Error ? e : new Error(String(e))) })
    })
  }
}

/** One command in its own session: connect, negotiate, run, close. */
export async function qmpCommand (socketPath: string, command: string, args?: Record<string, unknown>,
  options: { timeoutMs?: number, signal?: AbortSignal } = {}): Promise<unknown> {
  const session = await QmpSession.open(socketPath, options)
  try {
    return await session.execute(command, args, options)
  } finally {
    session.close()
  }
}
