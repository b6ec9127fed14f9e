// The hypervisor driver seam (after Nomad's plugins/drivers): fingerprint, create/start returning a serialisable
// handle that the daemon saves, status, graceful shutdown then destroy, list, and recover from a saved handle so a
// restarted daemon re-attaches to running guests instead of forgetting or killing them.
// Expected conditions (hypervisor missing, guest not yet up) are data; real failures are thrown as DriverError.

export interface HostCapacity {
  /** MiB of guest memory this host offers. */
  memoryMiB: number
  vcpus: number
}

export interface Fingerprint {
  driver: string
  /** False when the hypervisor cannot be used on this host; `reason` says why. */
  available: boolean
  reason?: string
  capacity: HostCapacity
  /** Driver specifics shown in `sdpeer hosts`, e.g. { accel: "tcg" } for qemu. */
  details: Record<string, string>
}

/** One disk handed to the guest by its storage backend. */
export interface DiskSpec {
  path: string
  format: 'raw' | 'qcow2'
  /** Guest device name hint: "xvda1", "vda"... */
  target: string
  readonly?: boolean
  role: 'root' | 'swap' | 'data'
}

export interface DomainSpec {
  /** Unique on the host; validated by the caller (letters, digits, `-_.`, at most 64). */
  name: string
  memoryMiB: number
  vcpus: number
  kernel?: string
  ramdisk?: string
  /** Extra kernel command line. */
  extra?: string
  hostname?: string
  ip?: string
  netmask?: string
  gateway?: string
  disks: DiskSpec[]
  /** Driver-specific options taken from the description (e.g. sim knobs, qemu accel, forwarded port). */
  options: Record<string, string | number | boolean>
}

/** Saved by the daemon (JSON) and handed back to `recover` after a restart. */
export interface DomainHandle {
  driver: string
  name: string
  /** Driver-private, JSON-serialisable. */
  data: Record<string, unknown>
}

export type DomainState = 'starting' | 'running' | 'paused' | 'shutting-down' | 'stopped' | 'crashed' | 'missing'

export interface DomainStatus {
  state: DomainState
  /** Why it stopped or crashed (exit code, log tail), when known. */
  reason?: string
}

export interface HypervisorDriver {
  readonly name: string
  /** Cheap; may probe the host once and cache. */
  fingerprint (options?: { signal?: AbortSignal }): Promise<Fingerprint>
  /** Creates and starts the domain; resolves once the hypervisor reports it running. Leaves nothing behind on failure. */
  start (spec: DomainSpec, options?: { signal?: AbortSignal }): Promise<DomainHandle>
  status (handle: DomainHandle, options?: { signal?: AbortSignal }): Promise<DomainStatus>
  /** Graceful shutdown; after `timeoutMs` destroys it. Resolves when it is gone. Idempotent. */
  shutdown (handle: DomainHandle, timeoutMs: number, options?: { signal?: AbortSignal }): Promise<void>
  /** Immediate stop. Idempotent: a missing domain is not an error. */
  destroy (handle: DomainHandle, options?: { signal?: AbortSignal }): Promise<void>
  /** Names of the domains this driver runs on this host. */
  list (options?: { signal?: AbortSignal }): Promise<string[]>
  /** Re-attaches to a domain started by an earlier daemon; returns its status ('missing' if it is gone). */
  recover (handle: DomainHandle, options?: { signal?: AbortSignal }): Promise<DomainStatus>
}

export class DriverError extends Error {
  override readonly name = 'DriverError'
  readonly driver: string
  readonly domain: string | undefined
  constructor (driver: string, domain: string | undefined, message: string, options?: { cause?: unknown }) {
    super(`${driver}${domain ? ` ${domain}` : ''}: ${message}`, options)
    this.driver = driver
    this.domain = domain
  }
}
