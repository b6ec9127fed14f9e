import type { Connection, DialTarget, Libp2p, PeerId, Stream } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import type { Ping } from '@libp2p/ping'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { MEMBERSHIP_PROTOCOL } from '../../protocol/ids.ts'
import { MAX_PUSH_PULL_BYTES } from '../../protocol/limits.ts'
import { decodeMembershipMessage, encodeMembershipMessage } from '../../protocol/membership.ts'
import type { MembershipMessage } from '../../protocol/membership.ts'
import { MessageTooLargeError, ProtocolValidationError } from '../../protocol/errors.ts'
import { Connector, raceAbort } from './connector.ts'
import { readFrame, writeFrame } from './framing.ts'
import type { MemberRef, MembershipTransport } from './membership/types.ts'

// The membership transport over libp2p. Probes are libp2p ping (a fresh TCP dial to a killed peer is refused at
// once; a stopped one times out). Messages go one per stream on `/sdpeer/membership/1.0.0`, length-prefixed.
// Why not gossipsub: membership messages are addressed to one member (ping-req, ack, state sync), gossipsub's
// mesh only forms over connections membership itself makes, and its own scoring would second-guess SWIM.

export interface Libp2pTransportInit {
  libp2p: Libp2p<{ ping: Ping }>
  /** Called for a peer that sent a malformed or oversized membership frame (count it, hang up). */
  punish: (peer: PeerId, reason: string) => Promise<void>
  /** Bound on writing one message (and on reading one) once a connection exists. */
  sendTimeoutMs?: number
  /**
   * Bound on establishing a connection (TCP, noise, yamux). Longer than any probe or send: on a loaded host a
   * handshake can take seconds, and a dial aborted at every attempt would never complete (a joiner retrying its
   * bootstrap every second stayed alone for minutes at load 50). A late connection serves the next attempt.
   */
  dialTimeoutMs?: number
  /** Shared with the node's rpc, so both wait on one dial per peer. */
  connector?: Connector
}

export class Libp2pMembershipTransport implements MembershipTransport {
  readonly #libp2p: Libp2p<{ ping: Ping }>
  readonly #punish: Libp2pTransportInit['punish']
  readonly #sendTimeoutMs: number
  readonly #dialTimeoutMs: number
  readonly #connector: Connector
  #handler: ((from: string, msg: MembershipMessage) => void) | undefined
  #running = false
  /** Messages that could not be delivered (peer unreachable): datagram semantics, so counted, not thrown. */
  sendFailures = 0
  /** Encoded bytes and count sent per message type, and probes started: for the traffic benchmarks. */
  readonly sent: Record<string, { messages: number, bytes: number }> = {}
  probes = 0

  constructor (init: Libp2pTransportInit) {
    this.#libp2p = init.libp2p
    this.#punish = init.punish
    this.#sendTimeoutMs = init.sendTimeoutMs ?? 2_000
    this.#dialTimeoutMs = init.dialTimeoutMs ?? 15_000
    this.#connector = init.connector ?? new Connector(init.libp2p, this.#dialTimeoutMs)
  }

  async start (): Promise<void> {
    this.#running = true
    await this.#libp2p.handle(MEMBERSHIP_PROTOCOL, (stream, connection) => { void this.#receive(stream, connection) }, {
      maxInboundStreams: 256, maxOutboundStreams: 256
    })
  }

  async stop (): Promise<void> {
    this.#running = false
    await this.#libp2p.unhandle(MEMBERSHIP_PROTOCOL).catch(() => {})
  }

  onMessage (handler: (from: string, msg: MembershipMessage) => void): void {
    this.#handler = handler
  }

  send (to: MemberRef, msg: MembershipMessage): void {
    if (!this.#running) return
    const bytes = encodeMembershipMessage(msg)
    const count = (this.sent[msg.type] ??= { messages: 0, bytes: 0 })
    count.messages++
    count.bytes += bytes.byteLength
    void this.#send(to, bytes).catch(() => { this.sendFailures++ })
  }

  probe (to: MemberRef, timeoutMs: number, done: (ok: boolean) => void): void {
    const target = this.#target(to)
    if (target == null) { setImmediate(() => { done(false) }); return }
    this.probes++
    const signal = AbortSignal.timeout(timeoutMs)
    // The ping is bounded by the probe timeout; the dial under it is not (see dialTimeoutMs): a refused dial (a
    // killed peer) still fails at once, a slow one completes for the next probe.
    raceAbort(this.#connect(target, to), signal)
      .then(async conn => { await this.#libp2p.services.ping.ping(conn.remotePeer, { signal }) })
      .then(() => { done(true) }, () => { done(false) })
  }

  async #send (to: MemberRef, bytes: Uint8Array): Promise<void> {
    const target = this.#target(to)
    if (target == null) throw new Error('no address')
    const conn = await this.#connect(target, to)
    const signal = AbortSignal.timeout(this.#sendTimeoutMs)
    const stream = await conn.newStream(MEMBERSHIP_PROTOCOL, { signal })
    try {
      await writeFrame(stream, bytes, { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
      throw err
    }
  }

  async #receive (stream: Stream, connection: Connection): Promise<void> {
    const from = connection.remotePeer.toString()
    let msg: MembershipMessage
    try {
      const bytes = await readFrame(stream, MAX_PUSH_PULL_BYTES, { signal: AbortSignal.timeout(this.#sendTimeoutMs), peer: from })
      msg = decodeMembershipMessage(bytes, { peer: from })
    } catch (err) {
      stream.abort(err as Error)
      if (err instanceof MessageTooLargeError || err instanceof ProtocolValidationError) {
        await this.#punish(connection.remotePeer, `${MEMBERSHIP_PROTOCOL}: ${err.name}: ${err.message}`)
      }
      return
    }
    await stream.close().catch(() => {})
    if (this.#running) this.#handler?.(from, msg)
  }

  /** An open connection to the target, dialed (once, shared) if there is none. */
  async #connect (target: DialTarget, to: MemberRef): Promise<Connection> {
    let peer: PeerId | undefined
    try { peer = to.id !== '' ? peerIdFromString(to.id) : undefined } catch {}
    return await this.#connector.connect(peer, target, to.id !== '' ? to.id : to.addrs.join(' '))
  }

  /** A connected peer is reached over its connection; otherwise by its multiaddrs (which name its peer id). */
  #target (to: MemberRef): DialTarget | undefined {
    let peer: PeerId | undefined
    if (to.id !== '') {
      try { peer = peerIdFromString(to.id) } catch { return undefined }
      if (this.#libp2p.getConnections(peer).length > 0) return peer
    }
    const addrs: Multiaddr[] = []
    for (const a of to.addrs) {
      try {
        const ma = multiaddr(a)
        addrs.push(peer != null && ma.getComponents().every(c => c.name !== 'p2p') ? ma.encapsulate(`/p2p/${peer.toString()}`) : ma)
      } catch {}
    }
    if (addrs.length > 0) return addrs
    return peer
  }
}
