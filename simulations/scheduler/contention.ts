// What the contention runs share: the pool every deployer deploys (one Schedulee of N VMs, the scheduler picks
// every host), the host capacity that makes the mesh a chosen fraction full, and the messages between the
// real-libp2p orchestrator (libp2p-contention.ts) and its host processes (contention-worker.ts).

import type { Resources } from '../../node/scheduler/types.ts'
import { SF_CLASS } from '../../node/sf/component-classes.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'

export function contentionPool (tag: string, vms: number, vmMiB: number): SfJsonObject {
  const workers: SfJsonObject = { sfClass: SF_CLASS.Schedulee, scheduler: { $ref: 'LAZY ATTRIB sched' } }
  for (let v = 0; v < vms; v++) workers[`vm${v}`] = { sfClass: SF_CLASS.XenDomain, memory: vmMiB, vcpus: 1, hostname: `${tag}-${v}` }
  return { sfClass: SF_CLASS.Compound, sched: { sfClass: SF_CLASS.Scheduler }, workers }
}

/** Memory per host (a multiple of the VM size) so that `totalVms` fill the mesh to about `fill`. */
export function contentionCapacity (totalVms: number, vmMiB: number, hosts: number, fill: number): Resources {
  return { memoryMiB: Math.ceil(totalVms / hosts / fill) * vmMiB, vcpus: 1024 }
}

export interface DeployJob { deployer: string, pool: string, vms: number, vmMiB: number, seed: number, maxAttempts: number }
export interface JobResult { pool: string, ok: boolean, attempts: number, refusals: number, placed: number, ms: number, error?: string }
export interface HostReadiness { name: string, alive: number, resolved: number, withCapacity: number }
export interface HostAccounting {
  name: string
  capacity: Resources
  reserved: Resources
  committed: Resources
  reservedEntries: number
  committedByPool: Record<string, number>
  /** Changes of the accounting after which the host was over its capacity (must stay 0). */
  overSeen: number
  /** Membership events this host saw since it started: other members suspected, declared dead. */
  suspicions: number
  deaths: number
}

export type WorkerRequest =
  | { id: number, op: 'status', all: string[] }
  | { id: number, op: 'deploy', jobs: DeployJob[] }
  | { id: number, op: 'accounting' }
  | { id: number, op: 'stop' }
