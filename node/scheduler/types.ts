// The data the scheduler cores exchange. Plain JSON-serialisable records: the same shapes travel in gossip
// (HostState) and on the reserve/release stream (ReserveRequest / ReserveAnswer) once the mesh carries them.

export type AttrValue = string | number | boolean

export interface Resources {
  memoryMiB: number
  vcpus: number
}

/**
 * What a host announces about itself. `version` grows with every change; the newest version wins. A host announces
 * with its admission's version (HostAdmission.version), the same number its reserve answers carry, so a view can
 * tell whether an answer or an announcement is the fresher. It must keep growing across daemon restarts (persist
 * it, or put the restart count in the high bits), or views would ignore a restarted host as old news.
 */
export interface HostState {
  /** The host name a description uses in `sfProcessHost` or a Scheduler's `hosts`. */
  host: string
  /** Its libp2p peer id when known (the coordinator ranks peers, placement ranks hosts). */
  peer?: string
  version: number
  driver: string
  capacity: Resources
  /** Reserved plus committed, as the host's own admission accounting counts them. */
  used: Resources
  /** Domains running now. */
  domains: number
  /** Names of the base images cached on this host. */
  images: string[]
  /** Free MiB for images copied to this host; absent when the host does not say. */
  diskFreeMiB?: number
  /** Host attributes a VM may require (`arch`, `rack`, `site`...). */
  attributes: Record<string, AttrValue>
}

/** One VM the scheduler must place: a child of a Schedulee, flattened. */
export interface VmDemand {
  pool: string
  /** The component path inside the pool, e.g. "VMs2Dispatch/worker-1"; unique in the pool. */
  vmId: string
  memoryMiB: number
  vcpus: number
  /** Required driver ("xen", "qemu", "libvirt", "sim"); any when absent. */
  driver?: string
  /** Base image name (content name in the warehouse); cost and the image constraint use it. */
  image?: string
  imageSizeMiB?: number
  /** The image warehouse holds `image`, so any host can fetch it even when no host caches it (a saved image). */
  imageInWarehouse?: boolean
  /** A query (node/scheduler/query.ts) over the host's attributes, e.g. `arch == "x86_64" && rack ~ "r1*"`. */
  requires?: string
}

/** The Scheduler component's settings, as read from the description. */
export interface SchedulerSpec {
  /** The only hosts this scheduler may use; every live host when absent or empty. */
  hosts?: string[]
}

export interface ReserveRequest {
  /** Chosen by the requester; a retry of the same request carries the same id. */
  requestId: string
  pool: string
  vmId: string
  memoryMiB: number
  vcpus: number
  /** Placement generation of this VM: 1 at deploy, +1 at every re-placement. Lower epochs are refused (fencing). */
  epoch: number
}

export type RefusalReason = 'memory' | 'vcpus' | 'stale-epoch' | 'draining'

export type ReserveAnswer =
  | { admitted: true, requestId: string, host: string, free: Resources, version: number }
  | { admitted: false, requestId: string, host: string, reason: RefusalReason, detail: string, free: Resources, version: number }

export type CommitAnswer = { committed: true } | { committed: false, reason: 'unknown' | 'expired' | 'superseded' }
