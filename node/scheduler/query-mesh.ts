// `sdpeer query` answered for the whole mesh from any peer: every active pool of the registry, each VM's status
// (host, state) from the owners, its attributes from the owner of its part, then the query. The control API's
// `query` op calls this with the daemon's DeployPeer; the query is compiled first, so a bad one costs no request.

import type { ComponentStatus } from '../engine/types.ts'
import type { SfJson } from '../sf/sfjson.ts'
import { compileQuery } from './query.ts'
import type { AttrValue } from './types.ts'
import type { VmQueryRecord } from './vm-records.ts'

export interface MeshPoolsReader {
  ls (): Array<{ pool: string, state: string }>
  status (pool: string): Promise<{ components: ComponentStatus[] }>
  get (pool: string, path: string, attr?: string): Promise<SfJson>
}

const OWN = new Set(['pool', 'path', 'host', 'state', 'name'])
// Registry states of mesh pools and engine states of a host's own pools.
const ACTIVE = new Set(['preparing', 'committing', 'running', 'terminating', 'deploying', 'deployed'])

/** The matching VMs of every active pool, sorted by pool and path. Throws QuerySyntaxError for a bad query. */
export async function queryMeshVms (peer: MeshPoolsReader, expr: string): Promise<VmQueryRecord[]> {
  const match = compileQuery(expr)
  const out: VmQueryRecord[] = []
  await Promise.all(peer.ls().filter(r => ACTIVE.has(r.state)).map(async r => {
    let components: ComponentStatus[]
    try { components = (await peer.status(r.pool)).components } catch { return }
    await Promise.all(components.filter(c => c.type === 'XenDomain').map(async c => {
      const rec: Record<string, AttrValue> = {}
      try {
        const attrs = await peer.get(r.pool, c.path)
        if (typeof attrs === 'object' && attrs !== null && !Array.isArray(attrs)) {
          for (const [k, v] of Object.entries(attrs)) {
            if (OWN.has(k) || k.startsWith('sf')) continue
            if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') rec[k] = v
          }
        }
      } catch {
        // Its owner did not answer: the VM is still listed with what the status said.
      }
      const vm: VmQueryRecord = { ...rec, pool: r.pool, path: c.path, name: c.path.slice(c.path.lastIndexOf(':') + 1), host: c.host, state: c.state }
      if (match(vm)) out.push(vm)
    }))
  }))
  return out.sort((a, b) => a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : a.path < b.path ? -1 : a.path > b.path ? 1 : 0)
}
