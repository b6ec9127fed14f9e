import type { Connection, DialTarget, Libp2p, PeerId } from '@libp2p/interface'

// One place that opens connections for the mesh's own protocols (membership, directory, rpc). A connection is
// dialed once per peer however many callers want it, with its own generous timeout: callers bound their
// exchange, not the handshake under it. On a loaded host a TCP+noise+yamux handshake can take seconds, and a dial
// aborted by every short-lived caller would never complete (a joiner retrying its bootstrap every second stayed
// alone for minutes at load 50). A connection that arrives late serves the next attempt.

export class Connector {
  readonly #libp2p: Pick<Libp2p, 'dial' | 'getConnections'>
  readonly #dialTimeoutMs: number
  readonly #dialing = new Map<string, Promise<Connection>>()

  constructor (libp2p: Pick<Libp2p, 'dial' | 'getConnections'>, dialTimeoutMs = 15_000) {
    this.#libp2p = libp2p
    this.#dialTimeoutMs = dialTimeoutMs
  }

  /** An open connection to `peer` (by `target`, its addresses, when given), dialed if there is none. */
  async connect (peer: PeerId | undefined, target: DialTarget, key: string): Promise<Connection> {
    if (peer != null) {
      const open = this.#libp2p.getConnections(peer).find(c => c.status === 'open')
      if (open != null) return open
    }
    let pending = this.#dialing.get(key)
    if (pending == null) {
      pending = this.#libp2p.dial(target, { signal: AbortSignal.timeout(this.#dialTimeoutMs) })
      this.#dialing.set(key, pending)
      const clear = (): void => { if (this.#dialing.get(key) === pending) this.#dialing.delete(key) }
      pending.then(clear, clear)
    }
    return await pending
  }
}

/** Waits for `p` until `signal` aborts (the work under `p` goes on: a dial shared with others). */
export async function raceAbort<T> (p: Promise<T>, signal: AbortSignal): Promise<T> {
  if (signal.aborted) throw signal.reason
  let onAbort: (() => void) | undefined
  try {
    return await Promise.race([p, new Promise<never>((_resolve, reject) => {
      onAbort = () => { reject(signal.reason) }
      signal.addEventListener('abort', onAbort, { once: true })
    })])
  } finally {
    if (onAbort != null) signal.removeEventListener('abort', onAbort)
  }
}
