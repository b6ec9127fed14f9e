import type { Clock } from '../seams/clock.ts'
import type { ComponentStatus, TerminationRecord } from '../engine/types.ts'
import { mergeChildStatuses, REMOTE_CHILD_TYPE } from './child-records.ts'
import { PoolNotFoundError } from './errors.ts'
import { requestWhile, WATCH_MS } from './retry.ts'
import { partOf } from './split.ts'
import type { DeployResponse, DeployTransport, PoolRecordView, PoolState } from './types.ts'

// `sdpeer status POOL` from any peer: every owner the pool record names is asked at once, all within one request
// timeout. An owner the membership declared dead is not asked: its parts are listed `lost`, naming host and peer.
// The record is read again while the answers come: an owner declared dead meanwhile, or whose parts were placed
// elsewhere (a re-placed root), stops being waited on, and the peer the record names now is asked instead.

export interface MeshPoolStatus {
  pool: string
  state: PoolState | 'unknown'
  /** Every owner's components, sorted by path; a part nobody could answer for has one line of its own (below). */
  components: ComponentStatus[]
  termination?: TerminationRecord
  /** Owners whose components are not listed: silent for the request timeout, or declared dead (in `dead` too). */
  unreachable: string[]
  /** Owners the membership declared dead: not asked; each of their parts has one line, `lost`. */
  dead: string[]
}

export interface PoolStatusDeps {
  clock: Clock
  transport: DeployTransport
  /** The pool's record as this peer's registry replica has it now. */
  record: (pool: string) => PoolRecordView | undefined
  isDead: (peer: string) => boolean
  /** The whole status's bound: one request timeout, whatever the number of owners. */
  timeoutMs: number
  watchMs?: number
}

type Part = PoolRecordView['parts'][number]
type Answer = Extract<DeployResponse, { type: 'status' }>

/** The peers to ask: every owner the record names, except those it records as failed and those declared dead. */
function owners (r: PoolRecordView, isDead: (peer: string) => boolean): string[] {
  return [...new Set(r.parts.filter(p => p.placement !== 'failed').map(p => p.peer))].filter(p => !isDead(p)).sort()
}

export async function gatherPoolStatus (d: PoolStatusDeps, pool: string): Promise<MeshPoolStatus> {
  const first = d.record(pool)
  if (first === undefined) throw new PoolNotFoundError(pool)
  const deadline = d.clock.now() + d.timeoutMs
  const watchMs = d.watchMs ?? WATCH_MS
  const answers = new Map<string, Answer>()
  const failed = new Set<string>()
  const asking = new Map<string, Promise<void>>()
  const wanted = (peer: string): boolean => { const r = d.record(pool); return r !== undefined && owners(r, d.isDead).includes(peer) }
  const ask = async (peer: string): Promise<void> => {
    try {
      const res = await requestWhile(d.transport, d.clock, peer, { type: 'status', pool }, { deadline, wanted: () => wanted(peer), watchMs })
      if (res?.type === 'status') answers.set(peer, res)
      else if (res !== undefined) failed.add(peer)
    } catch {
      failed.add(peer)
    }
  }
  for (;;) {
    const want = owners(d.record(pool) ?? first, d.isDead)
    for (const p of want) if (!asking.has(p)) asking.set(p, ask(p))
    const pending = want.filter(p => !answers.has(p) && !failed.has(p))
    if (pending.length === 0 || d.clock.now() >= deadline) break
    // Until one answers, or the record or the membership changes what is wanted (looked at every watchMs).
    const tick = new AbortController()
    await Promise.race([...pending.map(p => asking.get(p)), d.clock.sleep(watchMs, { signal: tick.signal }).catch(() => {})])
    tick.abort()
  }
  const r = d.record(pool) ?? first
  const want = owners(r, d.isDead)
  const components: ComponentStatus[] = []
  let termination: TerminationRecord | undefined
  for (const [peer, a] of answers) {
    if (!want.includes(peer)) continue
    // Only what the record places on that peer (a host that came back may still list a part placed elsewhere
    // since), and the records of remote children it keeps.
    components.push(...a.components.filter(c => c.type === REMOTE_CHILD_TYPE || partOf(r.parts, c.path)?.peer === peer))
    if (a.termination !== undefined) termination = a.termination
  }
  // A remote child that ended is listed by its parent's owner (with its record) and perhaps by its own.
  const merged = mergeChildStatuses(components)
  const listed = new Set(merged.map(c => c.path))
  for (const p of r.parts) {
    const line = listed.has(p.path) ? undefined : unansweredPart(p, d.isDead(p.peer))
    if (line !== undefined) merged.push(line)
  }
  merged.sort((a, b) => a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
  const dead = [...new Set(r.parts.map(p => p.peer))].filter(p => d.isDead(p)).sort()
  const unreachable = [...new Set([...want.filter(p => !answers.has(p)), ...dead])].sort()
  return { pool, state: r.state, components: merged, ...(termination !== undefined ? { termination } : {}), unreachable, dead }
}

/**
 * The line of a part nobody answered for, from the record: `failed` as the pool's coordinator recorded it (a
 * pinned VM whose host died), `lost` when its host is dead, `re-placing` while its new host prepares it. A part
 * whose owner is merely silent has none: that owner is listed as unreachable.
 */
export function unansweredPart (p: Part, dead: boolean): ComponentStatus | undefined {
  const at = `host ${p.host} (peer ${p.peer})`
  const line = { path: p.path, type: REMOTE_CHILD_TYPE, host: p.host }
  if (p.placement === 'failed') return { ...line, state: 'failed', reason: p.reason ?? `lost with ${at}` }
  if (dead) return { ...line, state: 'lost', reason: p.reason ?? `${at} declared dead by the mesh` }
  if (p.placement === 'reserved') return { ...line, state: 're-placing', reason: `being placed again on ${at}` }
  return undefined
}
