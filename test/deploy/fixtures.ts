import { checkFile } from '../../node/sf/index.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'

export function distVirtualPool (): SfJsonObject {
  const r = checkFile(new URL('../../examples/tutorial/distVirtualPool.sf', import.meta.url).pathname)
  if (r.config === undefined) throw new Error(r.diagnostics.map(d => d.message).join('\n'))
  return r.config
}

const xen = 'ch.cern.openlab.smartdomains.XenDomainImpl'
const lvm = 'ch.cern.openlab.smartdomains.LVMStorageBackendImpl'
const compound = 'org.smartfrog.sfcore.compound.CompoundImpl'

/** A computer (Compound on `host`) with one LVM volume and one domain per name. */
export function computer (host: string, domains: Array<{ name: string, ip: string, memory?: number }>, extra: SfJsonObject = {}): SfJsonObject {
  const cd: SfJsonObject = { sfClass: compound, sfSyncTerminate: true, sfProcessHost: host, ...extra }
  for (const d of domains) {
    cd[`${d.name}-disk`] = { sfClass: lvm, domainName: d.name }
    cd[d.name] = { sfClass: xen, domainName: d.name, ip: d.ip, memory: d.memory ?? 512, vcpus: 1 }
  }
  return cd
}

export function pool (children: Record<string, SfJsonObject>, extra: SfJsonObject = {}): SfJsonObject {
  return { sfClass: compound, sfSyncTerminate: true, ...extra, ...children }
}
