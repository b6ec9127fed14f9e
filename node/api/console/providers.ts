import type { HostCapacity, HypervisorDriver } from '../../drivers/types.ts'
import type { PoolEngine } from '../../engine/types.ts'

// What the console shows about hosts and images comes through two small providers, so the mesh (host directory,
// membership) and the image warehouse plug in without the console knowing them. Until then the daemon gives the
// console this host alone and an empty warehouse.

export interface HostLoadView {
  /** Domains running on the host. */
  domains: number
  memoryMiB: number
  vcpus: number
}

export interface HostView {
  name: string
  /** libp2p peer id; "" before the mesh is wired. */
  peerId: string
  addresses: string[]
  state: 'alive' | 'suspect' | 'dead'
  capacity?: HostCapacity
  load?: HostLoadView
  driver: string
  images: string[]
  /** Guest host names (XenDomain `hostname`) in use on the host, as vGrid listed them. */
  hostNamesInUse: string[]
  /** Guest addresses (XenDomain `ip`) in use on the host. */
  addressesInUse: string[]
}

export interface HostsProvider {
  listHosts (): HostView[] | Promise<HostView[]>
}

export interface ImageView {
  name: string
  /** Content or recipe id (sha256), when the warehouse has one. */
  id?: string
  format?: string
  /** build, import or fetch. */
  source?: string
  /** Bytes, when known. */
  size?: number
  /** Hosts holding a copy. */
  hosts: string[]
}

export interface ImagesProvider {
  listImages (): ImageView[] | Promise<ImageView[]>
}

export const emptyWarehouse: ImagesProvider = { listImages: () => [] }

/** The shape of a warehouse record the console reads (node/images/warehouse.ts ImageRecord). */
export interface WarehouseRecordView { id: string, format: string, size: number, names: string[], source: string }

/** This host's image warehouse as the console's images view (for the lead to pass as `images`). */
export function warehouseImagesProvider (warehouse: { list (): Promise<WarehouseRecordView[]> }, host: string): ImagesProvider {
  return {
    async listImages () {
      return (await warehouse.list()).map(r => ({
        name: r.names[0] ?? r.id.slice(0, 12), id: r.id, format: r.format, source: r.source, size: r.size, hosts: [host]
      }))
    }
  }
}

const DOMAIN_TYPES = new Set(['XenDomain', 'VM'])

/** Guest names, addresses and load of the domains one engine runs, read from their live attributes. */
export function domainUse (engine: Pick<PoolEngine, 'status' | 'get'>): { hostNames: string[], addresses: string[], load: HostLoadView } {
  const hostNames: string[] = []
  const addresses: string[] = []
  const load: HostLoadView = { domains: 0, memoryMiB: 0, vcpus: 0 }
  for (const p of engine.status()) {
    for (const c of p.components) {
      if (!DOMAIN_TYPES.has(c.type) || c.state === 'terminated' || c.state === 'failed') continue
      let attrs
      try { attrs = engine.get(p.pool, c.path) } catch { continue }
      if (typeof attrs !== 'object' || attrs === null || Array.isArray(attrs)) continue
      if (typeof attrs.hostname === 'string') hostNames.push(attrs.hostname)
      if (typeof attrs.ip === 'string') addresses.push(attrs.ip)
      if (c.state === 'running') {
        load.domains++
        load.memoryMiB += typeof attrs.memory === 'number' ? attrs.memory : 256
        load.vcpus += typeof attrs.vcpus === 'number' ? attrs.vcpus : 1
      }
    }
  }
  return { hostNames: hostNames.sort(), addresses: addresses.sort(), load }
}

/** The daemon's default: this host alone, alive, with the driver's capacity (probed once). */
export function localHostsProvider (host: string, driverName: string, driver: Pick<HypervisorDriver, 'fingerprint'>, engine: Pick<PoolEngine, 'status' | 'get'>): HostsProvider {
  let capacity: Promise<HostCapacity | undefined> | undefined
  return {
    async listHosts () {
      capacity ??= driver.fingerprint().then(f => f.capacity, () => undefined)
      const cap = await capacity
      const use = domainUse(engine)
      const view: HostView = {
        name: host,
        peerId: '',
        addresses: [],
        state: 'alive',
        driver: driverName,
        images: [],
        load: use.load,
        hostNamesInUse: use.hostNames,
        addressesInUse: use.addresses
      }
      if (cap) view.capacity = cap
      return [view]
    }
  }
}
