import type { MemberUpdate } from '../../../protocol/membership.ts'

// Updates waiting to be gossiped, each sent a bounded number of times (retransmitMult × log10(N+1), as in
// memberlist). A newer update about a member replaces the older one: stale news is never gossiped after fresh.

interface Item { update: MemberUpdate, transmits: number, order: number }

export function retransmitLimit (retransmitMult: number, n: number): number {
  return retransmitMult * Math.ceil(Math.log10(n + 1))
}

export class BroadcastQueue {
  readonly #items = new Map<string, Item>()
  #order = 0

  get size (): number { return this.#items.size }

  /** Queues an update about `update.id`, replacing any queued update about the same member. */
  push (update: MemberUpdate): void {
    this.#items.set(update.id, { update, transmits: 0, order: this.#order++ })
  }

  /**
   * Takes up to `max` updates for one message, fewest transmits first (then oldest), counting this transmit and
   * dropping those that reached `limit`.
   */
  take (max: number, limit: number): MemberUpdate[] {
    if (this.#items.size === 0) return []
    const items = [...this.#items.values()].sort((a, b) => a.transmits - b.transmits || a.order - b.order).slice(0, max)
    for (const item of items) {
      item.transmits++
      if (item.transmits >= limit) this.#items.delete(item.update.id)
    }
    return items.map(i => i.update)
  }

  clear (): void { this.#items.clear() }
}
