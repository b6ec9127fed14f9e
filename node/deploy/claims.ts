import type { Clock } from '../seams/clock.ts'
import { hrwOrder } from '../scheduler/coordinator.ts'
import { ClaimConflictError, ClaimUnavailableError } from './errors.ts'
import { requestWithRetry } from './retry.ts'
import type { Claims, DeployTransport } from './types.ts'

// Mesh-wide claims of domain names and addresses, with no central server.
//
// Choice: each claim key ("name:web1", "ip:10.0.0.5") has CLAIM_REPLICAS holder peers, the first ones in
// rendezvous-hash order over the live members (every peer computes the same holders from the same membership).
// A claim wins when a strict majority of its holders grant it; a holder grants a key to the first pool that asks
// and refuses every other pool while the claim lives (a pending claim for the prepare lease, a confirmed one until
// the pool releases it). Two pools claiming the same key at the same moment cannot both reach a majority of the
// same holders, so at most one wins (with no loss exactly one: the holders' answers split 2-1 or 3-0).
//
// A holder also refuses a key that its replica of the pool registry shows in use by another live pool: that
// covers a holder that joined after the claim was made (membership changed, so the holder set shifted), as long
// as the registry record has reached it. Why not "each owner checks its own claims plus the registry" alone:
// two owners preparing at the same instant both see a registry without the other pool, and both would win.
//
// Known limit: a majority of one key's holders dying or being replaced at once loses the pending claims of that
// key (confirmed ones are still in every registry replica).

export const CLAIM_REPLICAS = 3

/** 'pool': the pool's own name, held by one deploy id, so two peers deploying one pool name at once cannot both win. */
export type ClaimKind = 'name' | 'ip' | 'pool'

export const claimKey = (kind: ClaimKind, value: string): string => `${kind}:${value}`

export function claimHolders (kind: ClaimKind, value: string, members: readonly string[]): string[] {
  return hrwOrder(claimKey(kind, value), members).slice(0, CLAIM_REPLICAS)
}

interface Held { pool: string, deployId: string, confirmed: boolean, expiresAt: number }

/** Who a key belongs to: a pool for names and addresses (its owners all claim them), one deploy for a pool name. */
const ownerOf = (kind: ClaimKind, pool: string, deployId: string): string => kind === 'pool' ? `deploy ${deployId}` : pool

export type UsedBy = (kind: ClaimKind, value: string, except: { pool: string, deployId: string }) => string | undefined

/** The holder side: the claims this peer holds for others. */
export class ClaimTable {
  readonly #clock: Clock
  readonly #held = new Map<string, Held>()
  /** Another live pool using the key according to the registry replica, if any. */
  readonly #usedBy: UsedBy

  constructor (init: { clock: Clock, usedBy: UsedBy }) {
    this.#clock = init.clock
    this.#usedBy = init.usedBy
  }

  /** Grants the key to `pool` or answers which pool holds it. Re-asking for the same pool renews the lease. */
  claim (deployId: string, pool: string, kind: ClaimKind, value: string, leaseMs: number): { granted: true } | { granted: false, heldBy: string } {
    const key = claimKey(kind, value)
    const h = this.#held.get(key)
    const live = h !== undefined && (h.confirmed || h.expiresAt > this.#clock.now())
    const me = ownerOf(kind, pool, deployId)
    if (live && ownerOf(kind, h.pool, h.deployId) !== me) return { granted: false, heldBy: ownerOf(kind, h.pool, h.deployId) }
    const other = this.#usedBy(kind, value, { pool, deployId })
    if (other !== undefined) return { granted: false, heldBy: other }
    if (live && h.confirmed) return { granted: true }
    this.#held.set(key, { pool, deployId, confirmed: false, expiresAt: this.#clock.now() + leaseMs })
    return { granted: true }
  }

  /** The pool committed: its claims live until released. Inserts keys this holder missed (it was not asked). */
  confirm (deployId: string, pool: string, claims: Claims): void {
    for (const [kind, value] of entries(claims)) {
      const key = claimKey(kind, value)
      const h = this.#held.get(key)
      if (h !== undefined && ownerOf(kind, h.pool, h.deployId) !== ownerOf(kind, pool, deployId) && (h.confirmed || h.expiresAt > this.#clock.now())) continue
      this.#held.set(key, { pool, deployId, confirmed: true, expiresAt: Infinity })
    }
  }

  release (deployId: string, pool: string, claims: Claims): void {
    for (const [kind, value] of entries(claims)) {
      const key = claimKey(kind, value)
      const h = this.#held.get(key)
      if (h !== undefined && ownerOf(kind, h.pool, h.deployId) === ownerOf(kind, pool, deployId)) this.#held.delete(key)
    }
  }

  holderOf (kind: ClaimKind, value: string): string | undefined {
    const h = this.#held.get(claimKey(kind, value))
    return h !== undefined && (h.confirmed || h.expiresAt > this.#clock.now()) ? h.pool : undefined
  }

  /** Claims every key it can; answers the refused ones with the pool holding each. */
  claimMany (deployId: string, pool: string, claims: Claims, leaseMs: number): Array<{ kind: ClaimKind, value: string, heldBy: string }> {
    const refused: Array<{ kind: ClaimKind, value: string, heldBy: string }> = []
    for (const [kind, value] of entries(claims)) {
      const r = this.claim(deployId, pool, kind, value, leaseMs)
      if (!r.granted) refused.push({ kind, value, heldBy: r.heldBy })
    }
    return refused
  }

  get size (): number { return this.#held.size }
}

export function entries (c: Claims): Array<[ClaimKind, string]> {
  return [
    ...c.names.map((v): [ClaimKind, string] => ['name', v]),
    ...c.ips.map((v): [ClaimKind, string] => ['ip', v]),
    ...(c.pool !== undefined ? [['pool', c.pool] as [ClaimKind, string]] : [])
  ]
}

export interface ClaimClient {
  transport: DeployTransport
  clock: Clock
  /** Live peers of the mesh (this one included). */
  members: () => string[]
  timeoutMs: number
}

/**
 * Claims every key for `pool` at a majority of its holders, one request per holder carrying all its keys. Throws
 * ClaimConflictError naming the pool that holds a key (after releasing what was granted), or
 * ClaimUnavailableError when too few holders answered.
 */
export async function claimAll (c: ClaimClient, deployId: string, pool: string, claims: Claims, leaseMs: number): Promise<void> {
  const members = c.members()
  const keys = entries(claims).map(([kind, value]) => ({ kind, value, holders: claimHolders(kind, value, members), granted: 0, heldBy: undefined as string | undefined }))
  const perHolder = new Map<string, Claims>()
  for (const k of keys) {
    for (const h of k.holders) {
      const cl: Claims = perHolder.get(h) ?? { names: [], ips: [] }
      if (k.kind === 'pool') cl.pool = k.value
      else (k.kind === 'name' ? cl.names : cl.ips).push(k.value)
      perHolder.set(h, cl)
    }
  }
  await Promise.all([...perHolder].map(async ([h, mine]) => {
    let refused: Array<{ kind: ClaimKind, value: string, heldBy: string }> = []
    try {
      const r = await requestWithRetry(c.transport, c.clock, h, { type: 'claim', deployId, pool, claims: mine, leaseMs }, { timeoutMs: c.timeoutMs, attempts: 2 })
      if (r.type !== 'claim') return
      refused = r.refused
    } catch { return }
    for (const k of keys) {
      if (!k.holders.includes(h)) continue
      const no = refused.find(x => x.kind === k.kind && x.value === k.value)
      if (no === undefined) k.granted++
      else k.heldBy ??= no.heldBy
    }
  }))
  const lost = keys.find(k => k.granted * 2 <= k.holders.length)
  if (lost === undefined) return
  await releaseClaims(c, deployId, pool, claims)
  if (lost.heldBy !== undefined) throw new ClaimConflictError(pool, lost.kind, lost.value, lost.heldBy)
  throw new ClaimUnavailableError(pool, lost.kind, lost.value)
}

/** Tells every holder of every key (best effort; a pending claim that misses this expires with its lease). */
export async function releaseClaims (c: ClaimClient, deployId: string, pool: string, claims: Claims): Promise<void> {
  await sendToHolders(c, claims, { type: 'claim-release', deployId, pool, claims })
}

export async function confirmClaims (c: ClaimClient, deployId: string, pool: string, claims: Claims): Promise<void> {
  await sendToHolders(c, claims, { type: 'claim-confirm', deployId, pool, claims })
}

async function sendToHolders (c: ClaimClient, claims: Claims, req: { type: 'claim-release' | 'claim-confirm', deployId: string, pool: string, claims: Claims }): Promise<void> {
  const members = c.members()
  const peers = new Set<string>()
  for (const [kind, value] of entries(claims)) for (const h of claimHolders(kind, value, members)) peers.add(h)
  await Promise.all([...peers].sort().map(async p => {
    try { await requestWithRetry(c.transport, c.clock, p, req, { timeoutMs: c.timeoutMs, attempts: 2 }) } catch {}
  }))
}
