import type { Connection, DialTarget, PeerId, Stream, StreamHandler, StreamHandlerOptions } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { MessageTooLargeError, ProtocolValidationError } from '../../protocol/errors.ts'
import { boundedMemo } from '../../protocol/memo.ts'
import { RpcError } from './errors.ts'
import { readFrame, StreamEndedError, writeFrame } from './framing.ts'
import { MisbehaviourLog } from './misbehaviour.ts'
import { raceAbort } from './connector.ts'
import type { Connector } from './connector.ts'

// Requests name their peer by its id string: decoding it (base58) and encoding it back for the connector, twice per
// request, was a good part of the entry peer's garbage during a deploy (simulations/bench/mesh-memory.ts
// --profile-deploy). A peer id never changes.
const parsedPeer = boundedMemo((id: string): { peerId: PeerId, name: string } => {
  const peerId = peerIdFromString(id)
  return { peerId, name: peerId.toString() }
}, 4096)

// One request object sent to many peers (a pool record to every participant: ~110 KB each to 19 peers at the end
// of a 100-VM deploy over 20 hosts) is encoded once, not once per peer. Requests are not changed once sent; the
// bytes live as long as the request object does.
const encodings = new WeakMap<object, { codec: RpcCodec<unknown>, bytes: Uint8Array }>()
function encodedOnce<Req> (codec: RpcCodec<Req>, req: Req): Uint8Array {
  if (typeof req !== 'object' || req === null) return codec.encode(req)
  const hit = encodings.get(req)
  if (hit !== undefined && hit.codec === codec) return hit.bytes
  const bytes = codec.encode(req)
  encodings.set(req, { codec: codec as RpcCodec<unknown>, bytes })
  return bytes
}

// Request/response over libp2p streams: one stream per request, one length-prefixed frame each way, a size bound
// per message, a timeout, and validation of every decoded message before use. A peer that sends a malformed or
// oversized frame is disconnected and its misbehaviour counted.

/** How one message type crosses the wire. `decode` validates and throws ProtocolValidationError when invalid. */
export interface RpcCodec<T> {
  maxBytes: number
  encode (value: T): Uint8Array
  decode (bytes: Uint8Array): T
}

export interface RpcProtocolSpec<Req, Res> {
  id: string
  request: RpcCodec<Req>
  response: RpcCodec<Res>
}

export interface RpcContext { peer: string, signal: AbortSignal }
export type RpcHandler<Req, Res> = (req: Req, ctx: RpcContext) => Promise<Res>

/** The part of a libp2p node the rpc helper needs. */
export interface RpcHost {
  handle (protocol: string, handler: StreamHandler, options?: StreamHandlerOptions): Promise<void>
  unhandle (protocol: string): Promise<void>
  dialProtocol (peer: DialTarget, protocols: string, options?: { signal?: AbortSignal }): Promise<Stream>
  hangUp (peer: PeerId, options?: { signal?: AbortSignal }): Promise<void>
}

export interface RpcInit {
  host: RpcHost
  misbehaviour?: MisbehaviourLog
  /** Bound on a whole request (dial, send, answer) and on a handler's run. */
  timeoutMs?: number
  /**
   * Opens connections for requests, with its own dial timeout (see connector.ts): a request then bounds its
   * exchange, not the handshake. Without it, dialProtocol under the request's timeout.
   */
  connector?: Connector
}

// Response frames start with a tag: the value, or an error the handler threw (name and message only).
const OK = 0
const ERR = 1
const MAX_ERROR_BYTES = 4096

/** Misbehaviour worth disconnecting for: the bytes themselves were wrong, not the network. */
function isBadInput (err: unknown): err is Error {
  return err instanceof MessageTooLargeError || err instanceof ProtocolValidationError
}

export class Rpc {
  readonly #host: RpcHost
  readonly #timeoutMs: number
  readonly misbehaviourLog: MisbehaviourLog
  readonly #connector: Connector | undefined

  constructor (init: RpcInit) {
    this.#host = init.host
    this.#connector = init.connector
    this.#timeoutMs = init.timeoutMs ?? 10_000
    this.misbehaviourLog = init.misbehaviour ?? new MisbehaviourLog()
  }

  misbehaviour (peer: string): number { return this.misbehaviourLog.count(peer) }

  /** Registers `handler` for `spec.id`. The handler only ever sees validated requests. */
  async handle<Req, Res> (spec: RpcProtocolSpec<Req, Res>, handler: RpcHandler<Req, Res>): Promise<void> {
    await this.#host.handle(spec.id, (stream, connection) => { void this.#serve(spec, handler, stream, connection) })
  }

  async unhandle (spec: { id: string }): Promise<void> {
    await this.#host.unhandle(spec.id)
  }

  /** Disconnects a peer that broke a protocol, recording why. */
  async punish (peer: PeerId, reason: string): Promise<void> {
    this.misbehaviourLog.record(peer.toString(), reason)
    await this.#host.hangUp(peer).catch(() => {})
  }

  async #serve<Req, Res> (spec: RpcProtocolSpec<Req, Res>, handler: RpcHandler<Req, Res>, stream: Stream, connection: Connection): Promise<void> {
    const peer = connection.remotePeer.toString()
    const signal = AbortSignal.timeout(this.#timeoutMs)
    let req: Req
    try {
      req = spec.request.decode(await readFrame(stream, spec.request.maxBytes, { signal, peer }))
    } catch (err) {
      stream.abort(err as Error)
      if (isBadInput(err)) await this.punish(connection.remotePeer, `${spec.id}: ${(err as Error).name}: ${(err as Error).message}`)
      return
    }
    let frame: Uint8Array
    try {
      const body = spec.response.encode(await handler(req, { peer, signal }))
      frame = new Uint8Array(body.byteLength + 1)
      frame[0] = OK
      frame.set(body, 1)
    } catch (err) {
      const e = err as Error
      const body = new TextEncoder().encode(JSON.stringify({ name: String(e?.name ?? 'Error'), message: String(e?.message ?? e) }).slice(0, MAX_ERROR_BYTES - 1))
      frame = new Uint8Array(body.byteLength + 1)
      frame[0] = ERR
      frame.set(body, 1)
    }
    try {
      await writeFrame(stream, frame, { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }

  /** Sends one request and returns the validated response; throws RpcError (code says why). */
  async request<Req, Res> (peer: string | PeerId, spec: RpcProtocolSpec<Req, Res>, req: Req, options: { signal?: AbortSignal, timeoutMs?: number } = {}): Promise<Res> {
    const { peerId, name } = typeof peer === 'string' ? parsedPeer(peer) : { peerId: peer, name: peer.toString() }
    const timeout = AbortSignal.timeout(options.timeoutMs ?? this.#timeoutMs)
    const signal = options.signal != null ? AbortSignal.any([options.signal, timeout]) : timeout
    let stream: Stream
    try {
      if (this.#connector != null) {
        const conn = await raceAbort(this.#connector.connect(peerId, peerId, name), signal)
        try {
          stream = await conn.newStream(spec.id, { signal })
        } catch (err) {
          // The other end may have just closed this connection (it still looks open here): once more on a new one.
          if (signal.aborted) throw err
          conn.abort(err as Error)
          const fresh = await raceAbort(this.#connector.connect(peerId, peerId, name), signal)
          stream = await fresh.newStream(spec.id, { signal })
        }
      } else {
        stream = await this.#host.dialProtocol(peerId, spec.id, { signal })
      }
    } catch (err) {
      throw new RpcError(timeout.aborted ? 'timeout' : 'dial', name, spec.id, (err as Error).message, { cause: err })
    }
    let bytes: Uint8Array
    try {
      await writeFrame(stream, encodedOnce(spec.request, req), { signal })
      bytes = await readFrame(stream, spec.response.maxBytes + 1, { signal, peer: name })
      await stream.close({ signal }).catch(() => {})
    } catch (err) {
      stream.abort(err as Error)
      if (err instanceof MessageTooLargeError) {
        await this.punish(peerId, `${spec.id}: oversized response`)
        throw new RpcError('too-large', name, spec.id, err.message, { cause: err })
      }
      if (err instanceof StreamEndedError) throw new RpcError('closed', name, spec.id, err.message, { cause: err })
      throw new RpcError(timeout.aborted ? 'timeout' : 'closed', name, spec.id, (err as Error).message, { cause: err })
    }
    if (bytes.byteLength === 0 || (bytes[0] !== OK && bytes[0] !== ERR)) {
      await this.punish(peerId, `${spec.id}: response without a valid tag`)
      throw new RpcError('malformed-response', name, spec.id, 'response without a valid tag')
    }
    if (bytes[0] === ERR) {
      let remote = { name: 'Error', message: 'remote error' }
      try { remote = JSON.parse(new TextDecoder().decode(bytes.subarray(1, MAX_ERROR_BYTES))) } catch {}
      throw new RpcError('remote-error', name, spec.id, `${String(remote.name)}: ${String(remote.message)}`)
    }
    try {
      return spec.response.decode(bytes.subarray(1))
    } catch (err) {
      await this.punish(peerId, `${spec.id}: malformed response: ${(err as Error).message}`)
      throw new RpcError('malformed-response', name, spec.id, (err as Error).message, { cause: err })
    }
  }
}

