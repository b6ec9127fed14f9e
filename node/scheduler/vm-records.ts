// What `sdpeer query` filters: one flat record per VM of a pool, its description's scalar attributes (memory,
// vcpus, hostname, ip...) with where it runs and its state. The daemon's `query` op builds these from the pools it
// can see; the CLI builds them from a status file until then.

import type { ComponentStatus } from '../engine/types.ts'
import { SF_CLASS } from '../sf/component-classes.ts'
import { isEagerComponent } from '../sf/sfjson.ts'
import type { SfJsonObject } from '../sf/sfjson.ts'
import type { AttrValue } from './types.ts'

export type VmQueryRecord = Record<string, AttrValue> & { pool: string, path: string, host: string, state: string }

/** Keys the record sets itself; a VM attribute of the same name is shadowed (the query means the live fact). */
const OWN = new Set(['pool', 'path', 'host', 'state', 'name'])

/**
 * Every XenDomain of `config` as a record. `components` (the pool's status) gives each VM's host and state;
 * without it the host is the nearest `sfProcessHost` above the VM (or `defaultHost`) and the state "unknown".
 */
export function vmRecords (pool: string, config: SfJsonObject, components: readonly ComponentStatus[] = [], defaultHost = ''): VmQueryRecord[] {
  const status = new Map(components.map(c => [c.path, c]))
  const out: VmQueryRecord[] = []
  const walk = (cd: SfJsonObject, path: string, host: string): void => {
    const here = typeof cd.sfProcessHost === 'string' ? cd.sfProcessHost : host
    if (cd.sfClass === SF_CLASS.XenDomain) {
      const rec: Record<string, AttrValue> = {}
      for (const [k, v] of Object.entries(cd)) {
        if (OWN.has(k) || k.startsWith('sf')) continue
        if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') rec[k] = v
      }
      const st = status.get(path)
      out.push({ ...rec, pool, path, name: path.slice(path.lastIndexOf(':') + 1), host: st?.host ?? here, state: st?.state ?? 'unknown' })
    }
    for (const [k, v] of Object.entries(cd)) {
      if (isEagerComponent(v) && v.$data !== true) walk(v, path === '' ? k : `${path}:${k}`, here)
    }
  }
  walk(config, '', defaultHost)
  return out
}
