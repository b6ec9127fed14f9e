import { DIRECTORY_DIGEST_PROTOCOL, DIRECTORY_GET_PROTOCOL } from '../../protocol/ids.ts'
import {
  decodeDigestRequest, decodeDigestResponse, decodeGetRequest, decodeGetResponse, encodeDigestRequest, encodeDigestResponse,
  encodeGetRequest, encodeGetResponse, MAX_DIGEST_REQUEST_BYTES, MAX_DIGEST_RESPONSE_BYTES, MAX_GET_PEERS,
  MAX_GET_REQUEST_BYTES, MAX_GET_RESPONSE_BYTES
} from '../../protocol/directory-sync.ts'
import type { DigestRequest, DigestResponse, GetRequest } from '../../protocol/directory-sync.ts'
import type { Clock, Timer } from '../seams/clock.ts'
import type { Directory } from './directory.ts'
import { AnnouncementRejectedError } from './errors.ts'
import type { Random } from './membership/random.ts'
import type { Rpc, RpcProtocolSpec } from './rpc.ts'

// Pull-based anti-entropy of the host directory (wire format in protocol/directory-sync.ts): every interval, ask
// one random live member whether its directory hashes like ours; when not, fetch the entries it holds newer.
// A responder that sees a different digest syncs back with the requester soon, so a sync is push-pull: news
// spreads epidemically, in O(log N) intervals, whatever gossipsub did with the announcement.

export const digestProtocol: RpcProtocolSpec<DigestRequest, DigestResponse> = {
  id: DIRECTORY_DIGEST_PROTOCOL,
  request: { maxBytes: MAX_DIGEST_REQUEST_BYTES, encode: encodeDigestRequest, decode: decodeDigestRequest },
  response: { maxBytes: MAX_DIGEST_RESPONSE_BYTES, encode: encodeDigestResponse, decode: decodeDigestResponse }
}

export const getProtocol: RpcProtocolSpec<GetRequest, Uint8Array[]> = {
  id: DIRECTORY_GET_PROTOCOL,
  request: { maxBytes: MAX_GET_REQUEST_BYTES, encode: encodeGetRequest, decode: decodeGetRequest },
  response: { maxBytes: MAX_GET_RESPONSE_BYTES, encode: encodeGetResponse, decode: decodeGetResponse }
}

export interface DirectorySyncInit {
  self: string
  directory: Directory
  rpc: Pick<Rpc, 'request' | 'handle' | 'unhandle'>
  clock: Clock
  random: Random
  /** Peers worth syncing with: the members believed alive. */
  peers: () => string[]
  /** Period of the background sync with one random peer (jittered ±25%). */
  intervalMs: number
  timeoutMs?: number
  /** A peer that relayed an announcement that does not verify. */
  punish: (peer: string, reason: string) => Promise<void>
}

export class DirectorySync {
  readonly #init: DirectorySyncInit
  #timer: Timer | undefined
  #running = false
  /** Peers with a sync under way or scheduled, so a burst of triggers costs one exchange. */
  readonly #busy = new Set<string>()
  /** Counters for benchmarks and tests. */
  readonly stats = { syncs: 0, same: 0, fetched: 0, failures: 0 }

  constructor (init: DirectorySyncInit) {
    this.#init = init
  }

  async start (): Promise<void> {
    this.#running = true
    const { directory, rpc } = this.#init
    await rpc.handle(digestProtocol, async (req, ctx): Promise<DigestResponse> => {
      if (req.digest === directory.digest()) return { same: true }
      // They differ from us: whichever side is behind, a sync back from here closes our half of the gap.
      this.syncSoon(ctx.peer)
      return { same: false, versions: directory.versions() }
    })
    await rpc.handle(getProtocol, async (req) => req.peers.flatMap(p => {
      const bytes = directory.get(p)?.bytes
      return bytes != null ? [bytes] : []
    }))
    this.#schedule()
  }

  async stop (): Promise<void> {
    this.#running = false
    this.#timer?.cancel()
    await this.#init.rpc.unhandle(digestProtocol).catch(() => {})
    await this.#init.rpc.unhandle(getProtocol).catch(() => {})
  }

  /** Syncs with `peer` shortly (coalesced with any sync already under way with it). */
  syncSoon (peer: string, delayMs = 50): void {
    if (!this.#running || peer === this.#init.self || this.#busy.has(peer)) return
    this.#busy.add(peer)
    this.#init.clock.setTimeout(() => { void this.#syncBusy(peer) }, delayMs)
  }

  /** One digest exchange with `peer`, and a fetch of whatever it holds newer. Resolves with the entries fetched. */
  async syncWith (peer: string): Promise<number> {
    const { directory, rpc } = this.#init
    this.stats.syncs++
    const timeoutMs = this.#init.timeoutMs ?? 5_000
    const res = await rpc.request(peer, digestProtocol, { digest: directory.digest() }, { timeoutMs })
    if (res.same) { this.stats.same++; return 0 }
    const want = res.versions.filter(([id, epoch, seq]) => id !== this.#init.self && directory.isNewer(id, epoch, seq)).map(v => v[0])
    let fetched = 0
    for (let i = 0; i < want.length; i += MAX_GET_PEERS) {
      const got = await rpc.request(peer, getProtocol, { peers: want.slice(i, i + MAX_GET_PEERS) }, { timeoutMs })
      for (const bytes of got) {
        try {
          if (await directory.accept(bytes, { from: peer }) === 'accepted') fetched++
        } catch (err) {
          // It relayed something that does not verify: a correct peer only stores verified announcements.
          if (err instanceof AnnouncementRejectedError) await this.#init.punish(peer, `directory sync: ${err.message}`)
        }
      }
    }
    this.stats.fetched += fetched
    return fetched
  }

  async #syncBusy (peer: string): Promise<void> {
    try {
      if (this.#running) await this.syncWith(peer)
    } catch {
      this.stats.failures++ // gone or slow: the next round picks another peer
    } finally {
      this.#busy.delete(peer)
    }
  }

  #schedule (): void {
    if (!this.#running) return
    const base = this.#init.intervalMs
    const delay = Math.round(base * 0.75 + this.#init.random.int(Math.max(1, Math.floor(base / 2))))
    this.#timer = this.#init.clock.setTimeout(() => {
      const peers = this.#init.peers().filter(p => p !== this.#init.self && !this.#busy.has(p))
      if (peers.length > 0) {
        const peer = peers[this.#init.random.int(peers.length)]
        this.#busy.add(peer)
        void this.#syncBusy(peer).finally(() => { this.#schedule() })
      } else {
        this.#schedule()
      }
    }, delay)
  }
}
