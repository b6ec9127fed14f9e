// What the host directory has forgotten on an operator's word (`sdpeer hosts forget`): per peer, the epoch and seq
// of the announcement dropped. Without it, directory sync or a late gossip copy from a peer that still holds the
// announcement would bring it straight back. Blocking is by epoch, not by (epoch, seq): peers may hold different
// seqs of one epoch, and any of them would otherwise return; a real restart of that peer starts a higher epoch and
// is heard again. Bounded (oldest dropped first) and expiring: a forgotten epoch is not remembered for ever.

export interface Tombstone {
  peerId: string
  /** The forgotten announcement's epoch: announcements of this epoch or an older one are refused. */
  epoch: number
  seq: number
  /** The host names it claimed (lower-cased): a forget repeated for a member that missed it is not refused. */
  hostNames: string[]
  /** Clock time it was forgotten. */
  at: number
}

export const DEFAULT_TOMBSTONE_TTL_MS = 24 * 60 * 60 * 1000
export const DEFAULT_MAX_TOMBSTONES = 1024

export class Tombstones {
  readonly #ttlMs: number
  readonly #max: number
  /** Insertion order is age order (a re-forget moves the peer to the end): the first key is the oldest. */
  readonly #byPeer = new Map<string, Tombstone>()

  constructor (o: { ttlMs?: number, max?: number } = {}) {
    this.#ttlMs = o.ttlMs ?? DEFAULT_TOMBSTONE_TTL_MS
    this.#max = Math.max(1, o.max ?? DEFAULT_MAX_TOMBSTONES)
  }

  add (t: Tombstone): void {
    const old = this.#byPeer.get(t.peerId)
    this.#byPeer.delete(t.peerId)
    // Forgetting again never lowers the bar set by an earlier forget of a later epoch.
    const kept = old != null && old.epoch > t.epoch ? { ...old, at: t.at } : t
    this.#byPeer.set(t.peerId, kept)
    this.#prune(t.at)
    while (this.#byPeer.size > this.#max) this.#byPeer.delete(this.#byPeer.keys().next().value!)
  }

  /** True when an announcement of `peerId` at `epoch` was forgotten (and the tombstone has not expired by `now`). */
  blocks (peerId: string, epoch: number, now: number): boolean {
    const t = this.#byPeer.get(peerId)
    if (t == null) return false
    if (now - t.at > this.#ttlMs) { this.#byPeer.delete(peerId); return false }
    return epoch <= t.epoch
  }

  /** A newer announcement of the peer was accepted: its tombstone has nothing left to block. */
  clear (peerId: string): void { this.#byPeer.delete(peerId) }

  /** The live tombstones, oldest first. */
  list (now: number): Tombstone[] {
    this.#prune(now)
    return [...this.#byPeer.values()]
  }

  get size (): number { return this.#byPeer.size }

  #prune (now: number): void {
    for (const [peer, t] of this.#byPeer) {
      if (now - t.at <= this.#ttlMs) break // age order: the rest are younger
      this.#byPeer.delete(peer)
    }
  }
}
