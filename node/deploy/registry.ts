import type { Clock } from '../seams/clock.ts'
import type { ClaimKind } from './claims.ts'
import type { DeployTransport, PoolRecordView, PoolState } from './types.ts'

// The pool registry: every peer keeps a replica of every pool's record (entry peer, owners, claims, state), so
// `sdpeer ls` answers from any peer. Records are pushed to every live member on each change and pulled whole from
// one peer when a peer joins (anti-entropy). A record replaces another only with a higher version; two writers
// that raced to the same version are ordered by how far along the lifecycle their state is, so every replica
// converges on the same record whatever order the pushes arrive in; between two deploys of one name, the live
// record wins over the other deploy's end. Terminated and failed pools stay as
// tombstones (a re-deploy of the name continues their version) until pruned.

const STATE_RANK: Record<PoolState, number> = { preparing: 0, committing: 1, running: 2, failed: 3, terminating: 4, terminated: 5 }

export const isActive = (r: PoolRecordView): boolean => r.state !== 'terminated' && r.state !== 'failed'

/** The pool's participants: the record's list, or (an older record) its entry peer and owners. */
export function participantsOf (r: PoolRecordView): string[] {
  return r.participants ?? [...new Set([r.entry, ...r.parts.map(p => p.peer)])].sort()
}

function newer (a: PoolRecordView, b: PoolRecordView): boolean {
  // Two deploys of one pool name (one lost the name's claim, or a re-deploy after a tombstone): the live one wins
  // over the other's end, whatever the versions say, so a loser's 'failed' never hides the winner.
  if (a.deployId !== b.deployId && isActive(a) !== isActive(b)) return isActive(a)
  if (a.version !== b.version) return a.version > b.version
  return STATE_RANK[a.state] > STATE_RANK[b.state]
}

export interface RegistryInit {
  clock: Clock
  transport: DeployTransport
  members: () => string[]
  self: string
  timeoutMs: number
}

export class PoolRegistry {
  readonly #i: RegistryInit
  readonly #records = new Map<string, PoolRecordView>()
  readonly #tombstonedAt = new Map<string, number>()

  constructor (init: RegistryInit) {
    this.#i = init
  }

  get (pool: string): PoolRecordView | undefined { return this.#records.get(pool) }

  /** Every record, sorted by pool name. */
  list (): PoolRecordView[] {
    return [...this.#records.values()].sort((a, b) => a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : 0)
  }

  /** Stores `r` if newer than ours; true when it replaced (or added) a record. */
  merge (r: PoolRecordView): boolean {
    const old = this.#records.get(r.pool)
    if (old !== undefined && !newer(r, old)) return false
    this.#records.set(r.pool, r)
    if (isActive(r)) this.#tombstonedAt.delete(r.pool)
    else this.#tombstonedAt.set(r.pool, this.#i.clock.now())
    return true
  }

  /** Another live pool whose claims include the key. */
  usedBy (kind: ClaimKind, value: string, except: { pool: string, deployId: string }): string | undefined {
    if (kind === 'pool') {
      const r = this.#records.get(value)
      return r !== undefined && isActive(r) && r.state !== 'preparing' && r.deployId !== except.deployId ? `deploy ${r.deployId}` : undefined
    }
    for (const r of this.#records.values()) {
      if (r.pool === except.pool || !isActive(r) || r.state === 'preparing') continue
      if ((kind === 'name' ? r.claims.names : r.claims.ips).includes(value)) return r.pool
    }
    return undefined
  }

  /** Writes the next version of a pool's record here and pushes it to every live member (best effort). */
  async update (pool: string, change: (old: PoolRecordView | undefined) => Omit<PoolRecordView, 'version'>): Promise<PoolRecordView> {
    const old = this.#records.get(pool)
    const r: PoolRecordView = { ...change(old), version: (old?.version ?? 0) + 1 }
    this.merge(r)
    await this.publish(r)
    return r
  }

  async publish (r: PoolRecordView): Promise<void> {
    const peers = this.#i.members().filter(p => p !== this.#i.self)
    // One request object for every peer: the transport encodes it once (node/mesh/rpc.ts).
    const req = { type: 'registry-put', record: r } as const
    await Promise.all(peers.map(async p => {
      try { await this.#i.transport.request(p, req, { timeoutMs: this.#i.timeoutMs }) } catch {}
    }))
  }

  /** Pulls every record from `peer` (a peer that just joined does this with its bootstrap peer). */
  async syncFrom (peer: string): Promise<number> {
    const res = await this.#i.transport.request(peer, { type: 'registry-list' }, { timeoutMs: this.#i.timeoutMs })
    if (res.type !== 'registry') return 0
    let n = 0
    for (const r of res.records) if (this.merge(r)) n++
    return n
  }

  /** Forgets tombstones older than `ageMs`. */
  prune (ageMs: number): number {
    let n = 0
    for (const [pool, at] of this.#tombstonedAt) {
      if (this.#i.clock.now() - at < ageMs) continue
      this.#records.delete(pool)
      this.#tombstonedAt.delete(pool)
      n++
    }
    return n
  }
}
