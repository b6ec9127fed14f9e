// Counts of bad frames per peer (malformed, oversized, failed validation). Shared by every protocol handler of a
// node, so `sdpeer hosts` can show one figure per peer and a policy can cut off repeat offenders.

export interface MisbehaviourRecord { count: number, last: string }

export class MisbehaviourLog {
  readonly #byPeer = new Map<string, MisbehaviourRecord>()

  record (peer: string, reason: string): number {
    const r = this.#byPeer.get(peer) ?? { count: 0, last: '' }
    r.count++
    r.last = reason
    this.#byPeer.set(peer, r)
    return r.count
  }

  count (peer: string): number { return this.#byPeer.get(peer)?.count ?? 0 }

  get (peer: string): MisbehaviourRecord | undefined {
    const r = this.#byPeer.get(peer)
    return r == null ? undefined : { ...r }
  }

  all (): Array<{ peer: string } & MisbehaviourRecord> {
    return [...this.#byPeer].sort(([a], [b]) => a < b ? -1 : 1).map(([peer, r]) => ({ peer, ...r }))
  }
}
