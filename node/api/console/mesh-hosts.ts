import type { HostView as MeshHostView } from '../../mesh/node.ts'
import type { PoolEngine } from '../../engine/types.ts'
import type { HostView, HostsProvider } from './providers.ts'
import { domainUse } from './providers.ts'

// The hosts view from the mesh's directory (for the lead to pass as `hosts` once the mesh is in the daemon): every
// host the directory or membership knows, with its liveness. Guest names and addresses in use are known for this host
// only (from its engine) until announcements carry them.

export function meshHostsProvider (mesh: { hosts (): MeshHostView[] }, engine: Pick<PoolEngine, 'status' | 'get'>): HostsProvider {
  return {
    listHosts () {
      return mesh.hosts().map(h => {
        const self = h.state === 'self'
        const view: HostView = {
          name: h.hostNames[0] ?? h.peerId,
          peerId: h.peerId,
          addresses: h.addrs,
          // 'unknown': heard of through membership but never announced; it answered somebody, so not dead.
          state: h.state === 'self' || h.state === 'unknown' ? 'alive' : h.state,
          driver: h.driver ?? '',
          images: [],
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
        }
        return view
      })
    }
  }
}
