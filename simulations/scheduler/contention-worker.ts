// A few hosts of the contention run (libp2p-contention.ts) in one child process: each a real mesh node (libp2p over
// TCP loopback), a HostAdmission that judges every prepare, the load announcer, and a DeployPeer over the node's rpc
// streams whose engine is the daemon's PoolEnginePartEngine above a null hypervisor engine. Hosts are spread over
// a few processes so that 2 cores, not one event loop, carry 20 peers. The parent talks to us over execa's IPC:
// {id, op: 'status' | 'deploy' | 'accounting' | 'stop'}, each answered with the same id.
//
//   spawned by libp2p-contention.ts:  contention-worker.ts --base DIR --hosts h0,h3 --memory MiB --vcpus N
//     [--bootstrap MULTIADDR] [--timings JSON] [--ttl MS] [--membership JSON]

import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { getEachMessage, sendMessage } from 'execa'
import { PoolEnginePartEngine } from '../../node/deploy/engine-adapter.ts'
import { attachDeploy } from '../../node/deploy/mesh-wiring.ts'
import type { DeployPeer } from '../../node/deploy/peer.ts'
import type { DeployTimings } from '../../node/deploy/types.ts'
import { createMeshNode } from '../../node/mesh/node.ts'
import type { MeshNode } from '../../node/mesh/node.ts'
import type { MembershipConfig } from '../../node/mesh/membership/types.ts'
import { HostAdmission } from '../../node/scheduler/admission.ts'
import { announceAdmissionLoad } from '../../node/scheduler/announce-load.ts'
import { deployScheduled } from '../../node/scheduler/deploy-scheduled.ts'
import { realClock } from '../../node/seams/clock.ts'
import { contentionPool } from './contention.ts'
import type { DeployJob, HostAccounting, HostReadiness, JobResult, WorkerRequest } from './contention.ts'
import { NullEngine } from './memory-mesh.ts'

const { values } = parseArgs({
  options: {
    base: { type: 'string' },
    hosts: { type: 'string' },
    memory: { type: 'string' },
    vcpus: { type: 'string', default: '1024' },
    bootstrap: { type: 'string' },
    timings: { type: 'string', default: '{}' },
    ttl: { type: 'string' },
    membership: { type: 'string', default: '{}' }
  }
})
if (values.base === undefined || values.hosts === undefined || values.memory === undefined) {
  process.stderr.write('usage: contention-worker.ts --base DIR --hosts h0,h1 --memory MiB [--vcpus N] [--bootstrap MULTIADDR] [--timings JSON] [--ttl MS]\n')
  process.exit(2)
}

interface Host { name: string, node: MeshNode, admission: HostAdmission, peer: DeployPeer, stop: () => void, overSeen: number, suspicions: number, deaths: number }

const capacity = { memoryMiB: Number(values.memory), vcpus: Number(values.vcpus) }
const timings = JSON.parse(values.timings) as Partial<DeployTimings>
const membership = JSON.parse(values.membership) as Partial<MembershipConfig>
const hosts: Host[] = []
/** The deploy peers' log lines, counted by message: what aborted, what expired, what a liveness check tore down. */
const events: Record<string, number> = {}
let bootstrap = values.bootstrap
for (const name of values.hosts.split(',')) {
  const node = await createMeshNode({ host: name, stateDir: join(values.base, name), driver: 'sim', capacity: { memoryMb: capacity.memoryMiB, vcpus: capacity.vcpus }, membership, ...(bootstrap !== undefined ? { bootstrap: [bootstrap] } : {}) })
  await node.start()
  bootstrap ??= node.multiaddrs()[0]
  const admission = new HostAdmission({ host: name, capacity, clock: realClock, ...(values.ttl !== undefined ? { reservationTtlMs: Number(values.ttl) } : {}) })
  admission.start()
  const h: Host = { name, node, admission, peer: undefined as unknown as DeployPeer, stop: () => {}, overSeen: 0, suspicions: 0, deaths: 0 }
  // False suspicions and deaths on a starved machine are what break deploys (connections hung up, holders moved).
  node.membership.on(e => { if (e.type === 'suspect') h.suspicions++; else if (e.type === 'dead') h.deaths++ })
  // The invariant checked at every change of the host's own accounting, not only at the end.
  admission.onChange = () => {
    const a = admission.accounting()
    if (a.free.memoryMiB < 0 || a.free.vcpus < 0 || a.reserved.memoryMiB + a.committed.memoryMiB > a.capacity.memoryMiB) h.overSeen++
  }
  h.stop = announceAdmissionLoad(node, admission, realClock)
  h.peer = await attachDeploy(node, { selfHost: name, engine: new PoolEnginePartEngine({ engine: new NullEngine(name), admission }), timings, log: (m) => { events[m] = (events[m] ?? 0) + 1 } })
  hosts.push(h)
}
await sendMessage({ op: 'started', hosts: hosts.map(h => ({ name: h.name, peerId: h.node.peerId, addrs: h.node.multiaddrs() })) })

function readiness (all: string[]): HostReadiness[] {
  return hosts.map(h => {
    const views = h.node.hosts()
    return {
      name: h.name,
      alive: h.node.membership.members().filter(m => m.status === 'alive').length,
      resolved: all.filter(n => h.node.resolveHost(n) !== undefined).length,
      withCapacity: views.filter(v => v.capacity !== undefined && (v.state === 'alive' || v.state === 'self') && all.includes(v.hostNames[0] ?? '')).length
    }
  })
}

async function deploy (jobs: DeployJob[]): Promise<JobResult[]> {
  const settled = await Promise.allSettled(jobs.map(async j => {
    const h = hosts.find(x => x.name === j.deployer)
    if (h === undefined) throw new Error(`no host ${j.deployer} in this worker`)
    const t0 = performance.now()
    const r = await deployScheduled(h.peer, j.pool, contentionPool(j.pool, j.vms, j.vmMiB), () => h.node.hosts(), { maxAttempts: j.maxAttempts, seed: j.seed })
    return { pool: j.pool, ok: true, attempts: r.attempts, refusals: r.refusals.length, placed: r.placements.length, ms: performance.now() - t0 }
  }))
  return settled.map((s, i): JobResult => s.status === 'fulfilled'
    ? s.value
    : { pool: jobs[i].pool, ok: false, attempts: 0, refusals: 0, placed: 0, ms: 0, error: `${(s.reason as Error).name}: ${(s.reason as Error).message}` })
}

function accounting (): HostAccounting[] {
  return hosts.map(h => {
    const a = h.admission.accounting()
    const byPool: Record<string, number> = {}
    for (const e of a.entries) if (e.state === 'committed') byPool[e.pool] = (byPool[e.pool] ?? 0) + 1
    return { name: h.name, capacity: a.capacity, reserved: a.reserved, committed: a.committed, reservedEntries: a.entries.filter(e => e.state === 'reserved').length, committedByPool: byPool, overSeen: h.overSeen, suspicions: h.suspicions, deaths: h.deaths }
  })
}

async function stop (): Promise<void> {
  for (const h of hosts) { h.stop(); h.admission.stop(); h.peer.stop() }
  await Promise.allSettled(hosts.map(async h => { await h.node.stop() }))
}

for await (const m of getEachMessage()) {
  const req = m as WorkerRequest
  // Answered concurrently: a status or accounting question must not wait for the deploys in flight.
  void (async () => {
    switch (req.op) {
      case 'status': await sendMessage({ id: req.id, hosts: readiness(req.all) }); break
      case 'deploy': await sendMessage({ id: req.id, results: await deploy(req.jobs) }); break
      case 'accounting': await sendMessage({ id: req.id, hosts: accounting(), events }); break
      case 'stop': await stop(); await sendMessage({ id: req.id }); process.exit(0)
    }
  })()
}
