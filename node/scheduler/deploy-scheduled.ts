// A deploy whose Schedulee children are placed by this peer, with the hosts as judges: place from the view, deploy
// (two phases: each owner's prepare reserves through its HostAdmission, all or nothing), and when a host refuses
// its reservation, learn what it said it has free (or drop it for this deploy) and try again with a fresh placement.
// Many peers deploying at once from the same slightly stale view collide now and then; the retry, not a lock, is
// what resolves it, and no host is ever over-committed because only the host decides.

import type { DeployRequestOptions, DeployResult } from '../deploy/coordinator.ts'
import type { PeerFailure } from '../deploy/errors.ts'
import type { SfJsonObject } from '../sf/sfjson.ts'
import { assignScheduledHosts } from './assign.ts'
import type { AssignOptions, MeshHostView, Placement } from './assign.ts'
import { realClock } from '../seams/clock.ts'
import type { Clock } from '../seams/clock.ts'
import { ScheduledDeployError } from './errors.ts'
import { seededRandom, seedFromString } from './random.ts'

export interface DeployerForScheduling {
  self: string
  coordinator: { deploy (pool: string, config: SfJsonObject, options?: DeployRequestOptions): Promise<DeployResult> }
}

export interface DeployScheduledOptions extends Omit<AssignOptions, 'pool' | 'exclude' | 'seed'> {
  /** Deploy attempts before giving up. Default 8. */
  maxAttempts?: number
  /**
   * How long, in all, to wait for news when after refusals nothing fits the view any more (gossip lags behind the
   * hosts' accounting by seconds on a busy mesh). Default 30 s.
   */
  patienceMs?: number
  /**
   * Waits between attempts when, after refusals, nothing fits the view any more: reservations of other peers'
   * aborted deploys are being given back, and the next announcements will say so. Default realClock.
   */
  clock?: Clock
  /** Base of that wait, ms (times the number of waits so far, with jitter). Default 200. */
  backoffMs?: number
  /** Seed of the first attempt (then +1 per attempt). Default: from the pool name and this peer's id. */
  seed?: number
  deploy?: DeployRequestOptions
}

export interface ScheduledDeployResult {
  result: DeployResult
  placements: Placement[]
  /** 1 when the first placement was admitted everywhere. */
  attempts: number
  /** Every refusal met on the way (host and its reason), by attempt. */
  refusals: Array<{ attempt: number, host: string, reason: string }>
}

// HostAdmission's refusal detail, as PoolEnginePartEngine passes it on: "...: no capacity on h1: needs 512 MiB, 300 free".
const NO_CAPACITY = /no capacity on (\S+): needs (\d+) (MiB|vcpus), (-?\d+) free/

// An owner whose prepare lease ran out before the commit came (a slow prepare phase elsewhere): nothing wrong here.
const LEASE_LAPSED = /^deploy \S+ (is|was) aborted$/

/**
 * What a failed deploy teaches: hosts' true free figures, hosts to skip, or nothing (then it is not ours to retry).
 * A host that could not be reached, at prepare or at commit, is skipped next time, and a commit refused because
 * the owner's lease lapsed is simply tried again: the deploy was aborted everywhere either way (all or nothing),
 * and on a loaded mesh a peer falsely declared dead has its connections hung up under a commit in flight.
 */
export function learnFromFailures (failures: readonly PeerFailure[]): { free: Map<string, { memoryMiB?: number, vcpus?: number }>, exclude: Set<string> } | undefined {
  const free = new Map<string, { memoryMiB?: number, vcpus?: number }>()
  const exclude = new Set<string>()
  let lapsed = false
  for (const f of failures) {
    if (f.kind === 'unreachable' || f.kind === 'timeout') { exclude.add(f.host); continue }
    if (f.phase === 'commit' && f.kind === 'refused' && LEASE_LAPSED.test(f.reason)) { lapsed = true; continue }
    if (f.phase !== 'prepare') return undefined
    const m = f.kind === 'refused' ? NO_CAPACITY.exec(f.reason) : null
    // A claim conflict, a bad description, an engine error: retrying elsewhere would not change the answer.
    if (m === null) return undefined
    const cur = free.get(f.host) ?? {}
    if (m[3] === 'MiB') cur.memoryMiB = Number(m[4]); else cur.vcpus = Number(m[4])
    free.set(f.host, cur)
  }
  return lapsed || free.size + exclude.size > 0 ? { free, exclude } : undefined
}

/**
 * Assigns hosts to the Schedulee children of `config` and deploys it through `deployPeer`, retrying with a new
 * placement when hosts refuse. `hosts` is read again before every attempt (pass the mesh node's `hosts()`).
 * Throws NoHostFitsError when nothing fits the view (after waiting up to `patienceMs` for news if hosts had
 * refused), ScheduledDeployError after `maxAttempts` refused deploys, and
 * the deploy's own error (DeployFailedError, PoolExistsError, UnknownHostError...) when a retry would not help.
 */
export async function deployScheduled (deployPeer: DeployerForScheduling, pool: string, config: SfJsonObject,
  hosts: readonly MeshHostView[] | (() => readonly MeshHostView[]), opts: DeployScheduledOptions = {}): Promise<ScheduledDeployResult> {
  const maxAttempts = Math.max(1, opts.maxAttempts ?? 8)
  const seed = opts.seed ?? seedFromString(`${pool}\u0000${deployPeer.self}`)
  const learned = new Map<string, Learned>()
  const exclude = new Set<string>()
  const refusals: ScheduledDeployResult['refusals'] = []
  const clock = opts.clock ?? realClock
  const jitter = seededRandom(seed ^ 0x5bd1e995)
  const patience = opts.patienceMs ?? 30_000
  let waited = 0
  let waits = 0
  let last: unknown
  for (let attempt = 1; attempt <= maxAttempts;) {
    const fresh = typeof hosts === 'function' ? hosts() : hosts
    const view = fresh.map(h => corrected(h, learned))
    let assigned
    try {
      assigned = assignScheduledHosts(config, view, { ...opts, pool, seed: seed + attempt - 1 + waits * 7919, exclude })
    } catch (err) {
      // Nothing fits any more, but hosts refused us before. What they said stays true until they announce again
      // (other peers' aborted deploys give their reservations back, and gossip lags): wait, forget what hosts
      // have announced since, and look again.
      if ((err as Error).name !== 'NoHostFitsError' || refusals.length === 0 || waited >= patience) throw err
      last = err
      exclude.clear()
      const pause = Math.min(patience - waited, (opts.backoffMs ?? 200) * ++waits * (0.5 + jitter.next()))
      waited += pause
      await clock.sleep(pause)
      const later = typeof hosts === 'function' ? hosts() : hosts
      for (const [h, said] of [...learned]) {
        const v = later.find(x => x.hostNames.includes(h))
        const news = v === undefined || (v.load?.memoryMb ?? 0) !== said.announced || (v.load?.vcpus ?? 0) !== said.announcedVcpus ||
          (v.lastHeard ?? 0) > said.heard
        if (news) learned.delete(h)
      }
      continue
    }
    const { config: placed, placements } = assigned
    try {
      const result = await deployPeer.coordinator.deploy(pool, placed, opts.deploy)
      return { result, placements, attempts: attempt, refusals }
    } catch (err) {
      const failures = (err as { name?: string }).name === 'DeployFailedError' ? (err as { failures: PeerFailure[] }).failures : undefined
      const lesson = failures !== undefined ? learnFromFailures(failures) : undefined
      if (lesson === undefined || placements.length === 0) throw err
      last = err
      for (const f of failures ?? []) refusals.push({ attempt, host: f.host, reason: f.reason })
      for (const h of lesson.exclude) exclude.add(h)
      for (const [h, f] of lesson.free) {
        const v = fresh.find(x => x.hostNames.includes(h))
        learned.set(h, { ...learned.get(h), ...f, announced: v?.load?.memoryMb ?? 0, announcedVcpus: v?.load?.vcpus ?? 0, heard: v?.lastHeard ?? 0 })
      }
    }
    attempt++
  }
  throw new ScheduledDeployError(pool, maxAttempts, refusals, { cause: last })
}

/** What a host said it had free in a refusal; the load it had announced, and when, as we placed. */
interface Learned { memoryMiB?: number, vcpus?: number, announced: number, announcedVcpus: number, heard: number }

/**
 * The host as gossip shows it, but never with more free than it told us itself in a refusal. Keeping what hosts
 * said across attempts is what lets a peer working from a stale view converge: each attempt learns which hosts are
 * full and the next avoids them. A host that has freed room since is only missed until nothing fits the view; then
 * deployScheduled waits and forgets what the hosts' newer announcements contradict.
 */
function corrected (h: MeshHostView, learned: ReadonlyMap<string, Learned>): MeshHostView {
  const said = h.hostNames.map(n => learned.get(n)).find(x => x !== undefined)
  if (said === undefined || h.capacity === undefined) return h
  const load = h.load ?? { memoryMb: 0, vcpus: 0, domains: 0 }
  return {
    ...h,
    load: {
      ...load,
      memoryMb: said.memoryMiB !== undefined ? Math.max(load.memoryMb, h.capacity.memoryMb - said.memoryMiB) : load.memoryMb,
      vcpus: said.vcpus !== undefined ? Math.max(load.vcpus, h.capacity.vcpus - said.vcpus) : load.vcpus
    }
  }
}

