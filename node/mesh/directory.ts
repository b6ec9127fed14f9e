import { createHash } from 'node:crypto'
import type { PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { decodeAnnouncementPayload, decodeSignedAnnouncement, encodeAnnouncementPayload, encodeSignedAnnouncement } from '../../protocol/directory.ts'
import type { HostAnnouncement } from '../../protocol/directory.ts'
import { ProtocolValidationError } from '../../protocol/errors.ts'
import type { Clock } from '../seams/clock.ts'
import { AnnouncementRejectedError } from './errors.ts'
import { Tombstones } from './tombstones.ts'
import type { Tombstone } from './tombstones.ts'

// The host directory: host name (and address) ↔ peer, from announcements each peer signs with its own key.
// Two peers claiming one host name is a conflict, recorded and reported, and the name then resolves to nobody:
// a deploy must fail clearly rather than go to whichever claim arrived last.

export interface DirectoryEntry {
  announcement: HostAnnouncement
  /** Clock time we accepted it. */
  receivedAt: number
  /** The signed wire form, relayed as is by directory sync (it verifies wherever it arrives). */
  bytes?: Uint8Array
}

export interface HostConflict {
  hostName: string
  /** Every peer claiming the name, sorted. */
  peers: string[]
}

/** 'forgotten': the operator forgot this peer's announcements of that epoch (`sdpeer hosts forget`). */
export type AcceptResult = 'accepted' | 'stale' | 'forgotten'

/** Signs an announcement with the peer's key; the result is what goes on the wire. */
export async function signAnnouncement (key: PrivateKey, a: HostAnnouncement): Promise<Uint8Array> {
  const payload = encodeAnnouncementPayload(a)
  const signature = await key.sign(payload)
  return encodeSignedAnnouncement({ payload, signature })
}

/** Decodes, validates and verifies a signed announcement; throws AnnouncementRejectedError. */
export async function verifyAnnouncement (bytes: Uint8Array, options: { from?: string } = {}): Promise<HostAnnouncement> {
  let a: HostAnnouncement
  let signed
  try {
    signed = decodeSignedAnnouncement(bytes)
    a = decodeAnnouncementPayload(signed.payload)
  } catch (err) {
    const tooLarge = err instanceof ProtocolValidationError && err.message.includes('exceeds the limit')
    throw new AnnouncementRejectedError(tooLarge ? 'too-large' : 'invalid', (err as Error).message, options.from != null ? { peer: options.from } : {})
  }
  let ok = false
  try {
    const key = peerIdFromString(a.peerId).publicKey
    ok = key != null && await key.verify(signed.payload, signed.signature)
  } catch {
    ok = false
  }
  if (!ok) throw new AnnouncementRejectedError('signature', `signature does not match peer ${a.peerId}`, options.from != null ? { peer: options.from } : {})
  return a
}

function ipOf (addr: string): string | undefined {
  const m = /^\/(ip4|ip6|dns4|dns6|dns)\/([^/]+)/.exec(addr)
  return m?.[2]
}

function isLoopbackOrAny (ip: string): boolean {
  return ip.startsWith('127.') || ip === '::1' || ip === '0.0.0.0' || ip === '::' || ip === 'localhost'
}

export class Directory {
  readonly #clock: Clock
  readonly #entries = new Map<string, DirectoryEntry>()
  /** Lower-cased host name → peers claiming it. */
  readonly #names = new Map<string, Set<string>>()
  /** IP address → peers listening on it (loopback left out: every test peer shares it). */
  readonly #ips = new Map<string, Set<string>>()
  /** Hash of every entry's version, computed on demand and dropped on any change. */
  #digest: string | undefined
  readonly #tombstones: Tombstones

  constructor (init: { clock: Clock, tombstoneTtlMs?: number, maxTombstones?: number }) {
    this.#clock = init.clock
    this.#tombstones = new Tombstones({ ttlMs: init.tombstoneTtlMs, max: init.maxTombstones })
  }

  /** Verifies and stores an announcement. Throws AnnouncementRejectedError; 'stale' when not newer than ours. */
  async accept (bytes: Uint8Array, options: { from?: string } = {}): Promise<AcceptResult> {
    const a = await verifyAnnouncement(bytes, options)
    return this.#store(a, bytes)
  }

  #store (a: HostAnnouncement, bytes: Uint8Array): AcceptResult {
    if (this.#tombstones.blocks(a.peerId, a.epoch, this.#clock.now())) return 'forgotten'
    this.#tombstones.clear(a.peerId)
    const old = this.#entries.get(a.peerId)
    if (old != null) {
      const o = old.announcement
      if (a.epoch < o.epoch || (a.epoch === o.epoch && a.seq <= o.seq)) return 'stale'
      this.#unindex(o)
    }
    // A copy: the caller's bytes may be a view into a larger buffer that is reused.
    this.#entries.set(a.peerId, { announcement: a, receivedAt: this.#clock.now(), bytes: bytes.slice() })
    this.#digest = undefined
    for (const name of a.hostNames) addTo(this.#names, name.toLowerCase(), a.peerId)
    for (const addr of a.addrs) {
      const ip = ipOf(addr)
      if (ip != null && !isLoopbackOrAny(ip)) addTo(this.#ips, ip, a.peerId)
    }
    return 'accepted'
  }

  #unindex (a: HostAnnouncement): void {
    for (const name of a.hostNames) removeFrom(this.#names, name.toLowerCase(), a.peerId)
    for (const addr of a.addrs) { const ip = ipOf(addr); if (ip != null) removeFrom(this.#ips, ip, a.peerId) }
  }

  /**
   * Drops a peer's announcement (an operator's `hosts forget`) and keeps a tombstone, so that neither directory sync
   * nor gossip brings that epoch back; a later epoch (the peer restarted) is accepted again. Returns the tombstone,
   * or undefined when we hold nothing of the peer.
   */
  forget (peerId: string): Tombstone | undefined {
    const e = this.#entries.get(peerId)
    if (e == null) return undefined
    this.#unindex(e.announcement)
    this.#entries.delete(peerId)
    this.#digest = undefined
    const a = e.announcement
    const t: Tombstone = { peerId, epoch: a.epoch, seq: a.seq, hostNames: a.hostNames.map(h => h.toLowerCase()), at: this.#clock.now() }
    this.#tombstones.add(t)
    return t
  }

  /** Live tombstones, oldest first. */
  tombstones (): Tombstone[] { return this.#tombstones.list(this.#clock.now()) }

  /** Peers whose claim of a host name this directory has forgotten (live tombstones), sorted. */
  forgottenClaimants (hostName: string): string[] {
    const lower = hostName.toLowerCase()
    const names = new Set([lower, lower.replace(/\.$/, '')])
    return this.tombstones().filter(t => t.hostNames.some(h => names.has(h) || names.has(h.replace(/\.$/, '')))).map(t => t.peerId).sort()
  }

  /** Peers claiming a host name (case-insensitive, trailing dot ignored), sorted. */
  claimants (hostName: string): string[] {
    const lower = hostName.toLowerCase()
    return [...this.#names.get(lower.replace(/\.$/, '')) ?? this.#names.get(lower) ?? []].sort()
  }

  /** True when (epoch, seq) is newer than what we hold of `peerId`, or we hold nothing of it, and not forgotten. */
  isNewer (peerId: string, epoch: number, seq: number): boolean {
    if (this.#tombstones.blocks(peerId, epoch, this.#clock.now())) return false
    const o = this.#entries.get(peerId)?.announcement
    return o == null || epoch > o.epoch || (epoch === o.epoch && seq > o.seq)
  }

  /** Every entry's version [peerId, epoch, seq], sorted by peer id. */
  versions (): Array<[string, number, number]> {
    return [...this.#entries.values()].map(e => [e.announcement.peerId, e.announcement.epoch, e.announcement.seq] as [string, number, number])
      .sort((a, b) => a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)
  }

  /** A short hash of versions(): two directories with equal digests hold the same announcements. */
  digest (): string {
    this.#digest ??= createHash('sha256').update(this.versions().map(v => v.join(' ')).join('\n')).digest('hex').slice(0, 32)
    return this.#digest
  }

  get (peerId: string): DirectoryEntry | undefined { return this.#entries.get(peerId) }

  /** Every entry, sorted by first host name then peer id. */
  entries (): DirectoryEntry[] {
    const key = (e: DirectoryEntry): string => `${e.announcement.hostNames[0] ?? ''}\u0000${e.announcement.peerId}`
    return [...this.#entries.values()].sort((a, b) => key(a) < key(b) ? -1 : 1)
  }

  /**
   * The peer that answers to a host name (case-insensitive) or an IP address it listens on; undefined when no
   * peer does, or when several do (a conflict: see conflicts()).
   */
  resolveHost (nameOrAddress: string): string | undefined {
    const byName = this.#names.get(nameOrAddress.toLowerCase().replace(/\.$/, ''))
    const claim = byName ?? this.#names.get(nameOrAddress.toLowerCase()) ?? this.#ips.get(nameOrAddress)
    if (claim == null || claim.size !== 1) return undefined
    return [...claim][0]
  }

  /** Host names claimed by more than one peer, sorted by name. */
  conflicts (): HostConflict[] {
    const out: HostConflict[] = []
    for (const [hostName, peers] of this.#names) if (peers.size > 1) out.push({ hostName, peers: [...peers].sort() })
    return out.sort((a, b) => a.hostName < b.hostName ? -1 : 1)
  }
}

function addTo (index: Map<string, Set<string>>, key: string, peer: string): void {
  const s = index.get(key) ?? new Set<string>()
  s.add(peer)
  index.set(key, s)
}

function removeFrom (index: Map<string, Set<string>>, key: string, peer: string): void {
  const s = index.get(key)
  if (s == null) return
  s.delete(peer)
  if (s.size === 0) index.delete(key)
}
