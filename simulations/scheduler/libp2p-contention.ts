// Issue 6's contention goal over real libp2p: D deployers each deploy P pools of V scheduled VMs at the same
// moment onto H hosts (TCP loopback, noise, yamux, gossipsub load announcements), every host judging its own
// reservations. Hosts live in a few child processes (contention-worker.ts, round-robin, so deployers spread too);
// the deployers are the first D hosts. The figures come from the deployers' results and, for placement and
// over-commit, from every host's own HostAdmission accounting, read after the deploys and again after `holdMs`
// (a liveness round later: a pool that fell apart after "success" shows there).

import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execaNode } from 'execa'
import type { ResultPromise } from 'execa'
import type { DeployTimings } from '../../node/deploy/types.ts'
import type { MembershipConfig } from '../../node/mesh/membership/types.ts'
import { contentionCapacity } from './contention.ts'
import type { DeployJob, HostAccounting, HostReadiness, JobResult, WorkerRequest } from './contention.ts'

const WORKER = new URL('./contention-worker.ts', import.meta.url).pathname

export interface ContentionOptions {
  deployers: number
  pools: number
  vms: number
  hosts: number
  /** Child processes carrying the hosts. Default 2 (one per core here). */
  procs?: number
  /** How full the VMs make the mesh. Default 0.97. */
  fill?: number
  vmMiB?: number
  seed?: number
  maxAttempts?: number
  timings?: Partial<DeployTimings>
  /** The failure detector's settings (default: the daemon's, tuned to detect a death within 5 s at N = 20). */
  membership?: Partial<MembershipConfig>
  /** Admission reservation TTL (default HostAdmission's). */
  reservationTtlMs?: number
  /** Wait after the deploys before the second look at the hosts' accounting. Default 0. */
  holdMs?: number
  /** Bound on the mesh converging. Default 240 s. */
  convergeMs?: number
  log?: (line: string) => void
}

export interface HostsLook {
  /** VMs committed in the hosts' own accounting, and how many of the pools have all theirs committed. */
  vmsPlaced: number
  poolsWhole: number
  reservedLeft: number
  /** Hosts whose committed + reserved exceed capacity now; accounting changes seen over capacity, ever. */
  overCommitted: number
  overSeen: number
  minUse: number
  maxUse: number
  /** Membership suspicions and deaths every host saw, summed (false ones: no host is ever stopped here). */
  suspicions: number
  deaths: number
}

export interface ContentionFigures {
  pools: number
  vms: number
  capacityMiB: number
  poolsDeployed: number
  attempts: number
  refusals: number
  /** Refused VM reservations over VM reservations asked for, by the deployers' counts. */
  refusedRate: number
  maxAttempts: number
  startMs: number
  convergeMs: number
  wallMs: number
  afterDeploy: HostsLook
  afterHold: HostsLook
  /** Deploy peers' log messages over the run, counted (every host, every process). */
  events: Record<string, number>
  failures: string[]
}

// process.execPath: the Node 24 running us (the project's `node` devDependency); no inherited flags (vitest's).
const SPAWN = { nodePath: process.execPath, nodeOptions: [], ipc: true, stdout: 'inherit', stderr: 'inherit', reject: false } as const
interface Worker { proc: ResultPromise<typeof SPAWN>, hosts: string[], pending: Map<number, (m: Record<string, unknown>) => void> }
type Question = WorkerRequest extends infer R ? R extends unknown ? Omit<R, 'id'> : never : never

let ids = 0
async function ask (w: Worker, req: Question): Promise<Record<string, unknown>> {
  const id = ++ids
  const answer = new Promise<Record<string, unknown>>(resolve => w.pending.set(id, resolve))
  await w.proc.sendMessage({ ...req, id } as WorkerRequest)
  return await answer
}

async function spawnWorker (base: string, hosts: string[], capacity: { memoryMiB: number, vcpus: number }, o: ContentionOptions, bootstrap?: string): Promise<{ w: Worker, addrs: Map<string, string> }> {
  const args = ['--base', base, '--hosts', hosts.join(','), '--memory', String(capacity.memoryMiB), '--vcpus', String(capacity.vcpus),
    '--timings', JSON.stringify(o.timings ?? {}), '--membership', JSON.stringify(o.membership ?? {}), ...(bootstrap !== undefined ? ['--bootstrap', bootstrap] : []),
    ...(o.reservationTtlMs !== undefined ? ['--ttl', String(o.reservationTtlMs)] : [])]
  const proc = execaNode(WORKER, args, SPAWN)
  const w: Worker = { proc, hosts, pending: new Map() }
  const started = new Promise<Map<string, string>>((resolve, reject) => {
    void proc.then(r => { reject(new Error(`contention worker for ${hosts.join(',')} exited: ${String(r.exitCode ?? r.signal)}`)) })
    void (async () => {
      for await (const m of proc.getEachMessage()) {
        const msg = m as Record<string, unknown>
        if (msg.op === 'started') resolve(new Map((msg.hosts as Array<{ name: string, addrs: string[] }>).map(h => [h.name, h.addrs[0]])))
        else if (typeof msg.id === 'number') { w.pending.get(msg.id)?.(msg); w.pending.delete(msg.id) }
      }
    })().catch(reject)
  })
  return { w, addrs: await started }
}

function look (acc: HostAccounting[], pools: string[], vms: number): HostsLook {
  const byPool = new Map<string, number>()
  let over = 0; let overSeen = 0; let reservedLeft = 0
  const use: number[] = []
  for (const a of acc) {
    if (a.committed.memoryMiB + a.reserved.memoryMiB > a.capacity.memoryMiB || a.committed.vcpus + a.reserved.vcpus > a.capacity.vcpus) over++
    overSeen += a.overSeen
    reservedLeft += a.reservedEntries
    use.push(a.committed.memoryMiB / a.capacity.memoryMiB)
    for (const [p, n] of Object.entries(a.committedByPool)) byPool.set(p, (byPool.get(p) ?? 0) + n)
  }
  return {
    vmsPlaced: [...byPool.values()].reduce((x, y) => x + y, 0),
    poolsWhole: pools.filter(p => byPool.get(p) === vms).length,
    reservedLeft,
    overCommitted: over,
    overSeen,
    minUse: Math.min(...use),
    maxUse: Math.max(...use),
    suspicions: acc.reduce((n, a) => n + a.suspicions, 0),
    deaths: acc.reduce((n, a) => n + a.deaths, 0)
  }
}

export async function runLibp2pContention (o: ContentionOptions): Promise<ContentionFigures> {
  const log = o.log ?? (() => {})
  const vmMiB = o.vmMiB ?? 512
  const total = o.deployers * o.pools * o.vms
  const capacity = contentionCapacity(total, vmMiB, o.hosts, o.fill ?? 0.97)
  const names = Array.from({ length: o.hosts }, (_, i) => `h${i}`)
  const procs = Math.max(1, Math.min(o.procs ?? 2, o.hosts))
  const base = await mkdtemp(join(tmpdir(), 'sdpeer-contention-'))
  const workers: Worker[] = []
  try {
    const t0 = performance.now()
    // Round-robin: host i in process i % procs; h0 starts first and is everyone's bootstrap.
    const groups = Array.from({ length: procs }, (_, p) => names.filter((_, i) => i % procs === p))
    const first = await spawnWorker(base, groups[0], capacity, o)
    workers.push(first.w)
    const boot = first.addrs.get('h0')
    const rest = await Promise.all(groups.slice(1).map(async g => await spawnWorker(base, g, capacity, o, boot)))
    workers.push(...rest.map(r => r.w))
    const startMs = performance.now() - t0
    log(`${o.hosts} libp2p hosts in ${procs} processes started in ${(startMs / 1000).toFixed(1)} s`)
    // Every host sees every other alive, resolves every name and holds every host's announcement.
    const limit = o.convergeMs ?? 240_000
    for (;;) {
      const ready = (await Promise.all(workers.map(async w => (await ask(w, { op: 'status', all: names })).hosts as HostReadiness[]))).flat()
      const worst = ready.reduce((m, r) => Math.min(m, r.alive + 1, r.resolved, r.withCapacity), o.hosts)
      if (worst === o.hosts) break
      if (performance.now() - t0 > limit) throw new Error(`mesh did not converge in ${limit / 1000} s: worst host sees ${worst}/${o.hosts}`)
      await new Promise(resolve => setTimeout(resolve, 250))
    }
    const convergeMs = performance.now() - t0
    log(`${o.hosts} hosts converged in ${(convergeMs / 1000).toFixed(1)} s`)

    const jobs: DeployJob[] = []
    for (let d = 0; d < o.deployers; d++) {
      for (let p = 0; p < o.pools; p++) jobs.push({ deployer: names[d % o.hosts], pool: `d${d}p${p}`, vms: o.vms, vmMiB, seed: (o.seed ?? 1) * 1000 + d * 100 + p, maxAttempts: o.maxAttempts ?? 12 })
    }
    const s0 = performance.now()
    const results = (await Promise.all(workers.map(async w => {
      const mine = jobs.filter(j => w.hosts.includes(j.deployer))
      return mine.length === 0 ? [] : (await ask(w, { op: 'deploy', jobs: mine })).results as JobResult[]
    }))).flat()
    const wallMs = performance.now() - s0
    const events: Record<string, number> = {}
    const accounting = async (): Promise<HostAccounting[]> => (await Promise.all(workers.map(async w => {
      const answer = await ask(w, { op: 'accounting' })
      for (const [m, n] of Object.entries(answer.events as Record<string, number>)) events[m] = n + (events[m] ?? 0)
      return answer.hosts as HostAccounting[]
    }))).flat()
    const pools = jobs.map(j => j.pool)
    const afterDeploy = look(await accounting(), pools, o.vms)
    if ((o.holdMs ?? 0) > 0) await new Promise(resolve => setTimeout(resolve, o.holdMs))
    for (const k of Object.keys(events)) delete events[k] // counted again, in all, by the last look
    const afterHold = look(await accounting(), pools, o.vms)
    const ok = results.filter(r => r.ok)
    const attempts = ok.reduce((n, r) => n + r.attempts, 0)
    const refusals = ok.reduce((n, r) => n + r.refusals, 0)
    return {
      pools: jobs.length,
      vms: total,
      capacityMiB: capacity.memoryMiB,
      poolsDeployed: ok.length,
      attempts,
      refusals,
      refusedRate: refusals / Math.max(1, attempts * o.vms),
      maxAttempts: Math.max(0, ...ok.map(r => r.attempts)),
      startMs,
      convergeMs,
      wallMs,
      afterDeploy,
      afterHold,
      events,
      failures: results.filter(r => !r.ok).map(r => `${r.pool}: ${r.error ?? '?'}`)
    }
  } finally {
    await Promise.allSettled(workers.map(async w => {
      const bye = ask(w, { op: 'stop' })
      await Promise.race([bye, new Promise(resolve => setTimeout(resolve, 10_000))])
      w.proc.kill('SIGKILL')
      await w.proc
    }))
    await rm(base, { recursive: true, force: true })
  }
}
