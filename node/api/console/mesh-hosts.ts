import type { HostView as MeshHostView } from '../../mesh/node.ts'
import type { PoolEngine } from '../../engine/types.ts'
import type { HostView, HostsProvider } from './providers.ts'
import { domainUse } from './providers.ts'

// The hosts view from the mesh's directory: every host the directory or membership knows, with its liveness, the
// images its announcement lists, and the guest names and addresses in use on it (vGrid's "hosts in use"): this
// host's from its engine, every other host's from the VMs of the mesh's pools (`vms`, the daemon's query op).

/** A VM of the mesh as the query op lists it: its host and its attributes. */
export interface MeshVm { host: string, hostname?: unknown, ip?: unknown }

export function meshHostsProvider (mesh: { hosts (): MeshHostView[] }, engine: Pick<PoolEngine, 'status' | 'get'>,
  vms?: () => Promise<readonly MeshVm[]>): HostsProvider {
  return {
    async listHosts () {
      // Best effort: a peer that does not answer leaves its host's names unknown, not the page broken.
      const remote = vms === undefined ? [] : await vms().catch(() => [])
      return mesh.hosts().map(h => {
        const self = h.state === 'self'
        const view: HostView = {
          name: h.hostNames[0] ?? h.peerId,
          peerId: h.peerId,
          addresses: h.addrs,
          // 'unknown': heard of through membership but never announced; it answered somebody, so not dead.
          state: h.state === 'self' || h.state === 'unknown' ? 'alive' : h.state,
          driver: h.driver ?? '',
          images: [...(h.images ?? [])],
          hostNamesInUse: [],
          addressesInUse: []
        }
        if (h.capacity) view.capacity = { memoryMiB: h.capacity.memoryMb, vcpus: h.capacity.vcpus }
        if (h.load) view.load = { domains: h.load.domains, memoryMiB: h.load.memoryMb, vcpus: h.load.vcpus }
        if (self) {
          const use = domainUse(engine)
          view.hostNamesInUse = use.hostNames
          view.addressesInUse = use.addresses
          view.load = use.load
        } else {
          const here = remote.filter(v => h.hostNames.includes(v.host))
          view.hostNamesInUse = [...new Set(here.map(v => v.hostname).filter((x): x is string => typeof x === 'string'))].sort()
          view.addressesInUse = [...new Set(here.map(v => v.ip).filter((x): x is string => typeof x === 'string'))].sort()
        }
        return view
      })
    }
  }
}
