import type { MemberUpdate } from '../../../protocol/membership.ts'

// Updates waiting to be gossiped, each sent a bounded number of times (retransmitMult × log10(N+1), as in
// memberlist). A newer update about a member replaces the older one: stale news is never gossiped after fresh.
// Items sit in buckets by transmit count, so taking the least-sent ones costs O(taken), not a sort of the queue
// (a join flood in a 1,000-member mesh queues a thousand updates).

interface Item { update: MemberUpdate, transmits: number }

export function retransmitLimit (retransmitMult: number, n: number): number {
  return retransmitMult * Math.ceil(Math.log10(n + 1))
}

export class BroadcastQueue {
  /** By member id. */
  readonly #items = new Map<string, Item>()
  /** buckets[t]: items sent t times, by member id, in the order they entered the bucket. */
  readonly #buckets: Array<Map<string, Item>> = []

  get size (): number { return this.#items.size }

  /** Queues an update about `update.id`, replacing any queued update about the same member. */
  push (update: MemberUpdate): void {
    this.#remove(update.id)
    const item: Item = { update, transmits: 0 }
    this.#items.set(update.id, item)
    this.#bucket(0).set(update.id, item)
  }

  /**
   * Takes up to `max` updates for one message, fewest transmits first (then oldest), counting this transmit and
   * dropping those that reached `limit`.
   */
  take (max: number, limit: number): MemberUpdate[] {
    const taken: Item[] = []
    for (let t = 0; t < this.#buckets.length && taken.length < max; t++) {
      for (const item of this.#buckets[t].values()) {
        taken.push(item)
        if (taken.length >= max) break
      }
    }
    for (const item of taken) {
      const id = item.update.id
      this.#buckets[item.transmits].delete(id)
      item.transmits++
      if (item.transmits >= limit) this.#items.delete(id)
      else this.#bucket(item.transmits).set(id, item)
    }
    return taken.map(i => i.update)
  }

  clear (): void {
    this.#items.clear()
    this.#buckets.length = 0
  }

  #bucket (t: number): Map<string, Item> {
    while (this.#buckets.length <= t) this.#buckets.push(new Map())
    return this.#buckets[t]
  }

  #remove (id: string): void {
    const old = this.#items.get(id)
    if (old == null) return
    this.#items.delete(id)
    this.#buckets[old.transmits]?.delete(id)
  }
}
