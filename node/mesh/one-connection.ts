import type { Connection, Libp2p, PeerId } from '@libp2p/interface'

// One connection per pair of peers. When two peers dial each other at the same time (a joiner and the members that
// learn of it, each probing and fetching the other's announcement within the same handshake time), libp2p upgrades
// both connections and keeps both for life: 112 of the 190 pairs of a 20-daemon mesh held two (a daemon 31
// connections for 19 peers), each with its own noise session, yamux muxer, identify exchange, socket and timers.
// Refusing the crossing dial at the handshake (tried first) made the refused side's probes fail during a join and
// doubled the suspect notices while a mesh forms (BENCHMARKS.md, Mesh → Memory). So both connections are let
// through and the peer with the lower id (one side decides, so the two never close one each) later closes the
// duplicate that carries no stream: gossipsub's long-lived streams keep the connection they run on, and nothing in
// flight is cut. A duplicate that stays busy is left alone.

export interface PrunerInit {
  libp2p: Pick<Libp2p, 'peerId' | 'getConnections' | 'addEventListener' | 'removeEventListener'>
  /** How long after a second connection opened to look (identify and gossipsub settle first; default 5 s). */
  delayMs?: number
  /** How many more looks, delayMs apart, while every duplicate is busy (default 6). */
  retries?: number
}

export class DuplicateConnectionPruner {
  readonly #libp2p: PrunerInit['libp2p']
  readonly #delayMs: number
  readonly #retries: number
  readonly #timers = new Set<ReturnType<typeof setTimeout>>()
  /** Connections closed as duplicates since start. */
  pruned = 0

  constructor (init: PrunerInit) {
    this.#libp2p = init.libp2p
    this.#delayMs = init.delayMs ?? 5_000
    this.#retries = init.retries ?? 6
  }

  start (): void { this.#libp2p.addEventListener('connection:open', this.#onOpen) }

  stop (): void {
    this.#libp2p.removeEventListener('connection:open', this.#onOpen)
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
  }

  readonly #onOpen = (evt: CustomEvent<Connection>): void => {
    const peer = evt.detail.remotePeer
    if (!(this.#libp2p.peerId.toString() < peer.toString())) return
    if (this.#open(peer).length > 1) this.#later(peer, this.#retries)
  }

  #open (peer: PeerId): Connection[] { return this.#libp2p.getConnections(peer).filter(c => c.status === 'open') }

  #later (peer: PeerId, retries: number): void {
    const t = setTimeout(() => { this.#timers.delete(t); void this.prune(peer, retries) }, this.#delayMs)
    t.unref()
    this.#timers.add(t)
  }

  /** Closes the idle duplicates of the connections to `peer`, newest first, keeping one. */
  async prune (peer: PeerId, retries = 0): Promise<void> {
    const open = this.#open(peer)
    if (open.length < 2) return
    const idle = open.filter(c => c.streams.length === 0).sort((a, b) => b.timeline.open - a.timeline.open)
    let left = open.length
    for (const c of idle) {
      if (left === 1) break
      left--
      this.pruned++
      await c.close().catch(err => { c.abort(err as Error) })
    }
    if (left > 1 && retries > 0) this.#later(peer, retries - 1)
  }
}
