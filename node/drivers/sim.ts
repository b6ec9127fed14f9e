import { randomUUID } from 'node:crypto'
import { realClock } from '../seams/clock.ts'
import type { Clock } from '../seams/clock.ts'
import { DriverError } from './types.ts'
import type { DomainHandle, DomainSpec, DomainState, DomainStatus, Fingerprint, HostCapacity, HypervisorDriver } from './types.ts'
import { resolveKnobs } from './sim/knobs.ts'
import type { SimKnobs } from './sim/knobs.ts'
import { CoalescingWriter, readJson, writeJsonAtomic } from './sim/state-file.ts'

// The simulated hypervisor: domains are rows in a table, their life is a function of the clock (booting until
// `runningAt`, crashed from `crashAt`), so nothing needs a timer except the calls that wait. With `stateFile` the table
// outlives the process: a daemon killed with SIGKILL and started again finds its "running" domains, as it would find
// real guests that kept running while it was away.

export interface SimDriverOptions {
  clock?: Clock
  /** What the fingerprint offers and start enforces. Default memory=65536,vcpus=64. */
  capacity?: HostCapacity
  /**
   * JSON file holding the domain table across processes (read at first use, rewritten after each change). Without it
   * the table lives in memory only. One live driver per file, as one daemon per state dir: a second instance reads it
   * once and does not see later changes of the first.
   */
  stateFile?: string
  /** Knob defaults from the daemon config; DomainSpec.options override them per domain. */
  knobs?: Partial<SimKnobs>
}

export const DEFAULT_SIM_CAPACITY: HostCapacity = { memoryMiB: 65536, vcpus: 64 }

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const FILE_VERSION = 1

/** One row of the table; persisted as is. Times are on the driver's clock (the real clock is epoch-based). */
interface SimDomain {
  id: string
  name: string
  memoryMiB: number
  vcpus: number
  runningAt: number
  crashAt?: number
  shutdownMs: number
  ignoreShutdown: boolean
}

export class SimDriver implements HypervisorDriver {
  readonly name = 'sim'
  readonly #clock: Clock
  readonly #capacity: HostCapacity
  readonly #stateFile: string | undefined
  readonly #knobs: Partial<SimKnobs>
  readonly #domains = new Map<string, SimDomain>()
  /** Graceful shutdowns in progress, by domain id, so a second call joins the first. */
  readonly #stopping = new Map<string, Promise<void>>()
  readonly #writer: CoalescingWriter
  #loaded: Promise<void> | undefined

  constructor (options: SimDriverOptions = {}) {
    this.#clock = options.clock ?? realClock
    this.#capacity = { ...(options.capacity ?? DEFAULT_SIM_CAPACITY) }
    this.#stateFile = options.stateFile
    this.#knobs = { ...options.knobs }
    resolveKnobs(this.#knobs, {}) // validation only: a bad daemon setting fails when the daemon starts
    this.#writer = new CoalescingWriter(async () => {
      if (this.#stateFile === undefined) return
      await writeJsonAtomic(this.#stateFile, { version: FILE_VERSION, domains: [...this.#domains.values()] })
    })
  }

  async fingerprint (): Promise<Fingerprint> {
    await this.#load()
    const used = this.#used()
    return {
      driver: 'sim',
      available: true,
      capacity: { ...this.#capacity },
      details: {
        domains: String(this.#domains.size),
        freeMemoryMiB: String(this.#capacity.memoryMiB - used.memoryMiB),
        freeVcpus: String(this.#capacity.vcpus - used.vcpus),
        persistent: this.#stateFile === undefined ? 'no' : 'yes'
      }
    }
  }

  async start (spec: DomainSpec, options?: { signal?: AbortSignal }): Promise<DomainHandle> {
    await this.#load()
    const name = spec.name
    if (typeof name !== 'string' || !NAME.test(name)) throw new DriverError('sim', undefined, `invalid domain name ${JSON.stringify(name)}`)
    if (!Number.isSafeInteger(spec.memoryMiB) || spec.memoryMiB <= 0) throw new DriverError('sim', name, `memory must be a positive integer (MiB), got ${spec.memoryMiB}`)
    if (!Number.isSafeInteger(spec.vcpus) || spec.vcpus <= 0) throw new DriverError('sim', name, `vcpus must be a positive integer, got ${spec.vcpus}`)
    const knobs = resolveKnobs(this.#knobs, spec.options ?? {}, name)
    if (this.#domains.has(name)) throw new DriverError('sim', name, 'a domain with this name already exists')
    const used = this.#used()
    const free = { memoryMiB: this.#capacity.memoryMiB - used.memoryMiB, vcpus: this.#capacity.vcpus - used.vcpus }
    if (spec.memoryMiB > free.memoryMiB || spec.vcpus > free.vcpus) {
      throw new DriverError('sim', name, `insufficient capacity: asks memory=${spec.memoryMiB},vcpus=${spec.vcpus}, free memory=${free.memoryMiB},vcpus=${free.vcpus}`)
    }
    const now = this.#clock.now()
    const d: SimDomain = {
      id: randomUUID(),
      name,
      memoryMiB: spec.memoryMiB,
      vcpus: spec.vcpus,
      runningAt: now + knobs.simBootMs,
      shutdownMs: knobs.simShutdownMs,
      ignoreShutdown: knobs.simIgnoreShutdown
    }
    if (knobs.simCrashAfterMs !== undefined) d.crashAt = d.runningAt + knobs.simCrashAfterMs
    // Claimed (name and capacity) before the first await, so concurrent starts cannot both pass the checks.
    this.#domains.set(name, d)
    try {
      await this.#writer.flush()
      if (knobs.simBootMs > 0) await this.#clock.sleep(knobs.simBootMs, { signal: options?.signal })
      else if (options?.signal?.aborted) throw options.signal.reason
    } catch (e) {
      await this.#forget(d)
      throw new DriverError('sim', name, options?.signal?.aborted === true ? 'start aborted' : 'start failed', { cause: e })
    }
    if (this.#domains.get(name)?.id !== d.id) throw new DriverError('sim', name, 'destroyed while starting')
    if (knobs.simStartFail !== undefined) {
      await this.#forget(d)
      throw new DriverError('sim', name, knobs.simStartFail)
    }
    return { driver: 'sim', name, data: { id: d.id, memoryMiB: d.memoryMiB, vcpus: d.vcpus } }
  }

  async status (handle: DomainHandle): Promise<DomainStatus> {
    await this.#load()
    return this.#statusOf(this.#find(handle))
  }

  async shutdown (handle: DomainHandle, timeoutMs: number, options?: { signal?: AbortSignal }): Promise<void> {
    await this.#load()
    const d = this.#find(handle)
    if (d === undefined) return
    const pending = this.#stopping.get(d.id)
    if (pending !== undefined) return await pending
    if (this.#stateOf(d) === 'crashed') return await this.#forget(d)
    // A guest that ignores the request is destroyed when the timeout expires; one that is slower than the timeout too.
    const wait = d.ignoreShutdown ? timeoutMs : Math.min(d.shutdownMs, timeoutMs)
    const run = (async () => {
      try {
        if (wait > 0) await this.#clock.sleep(wait, { signal: options?.signal })
        else if (options?.signal?.aborted) throw options.signal.reason
      } catch (e) {
        throw new DriverError('sim', d.name, 'shutdown aborted', { cause: e })
      } finally {
        this.#stopping.delete(d.id)
      }
      await this.#forget(d)
    })()
    this.#stopping.set(d.id, run)
    return await run
  }

  async destroy (handle: DomainHandle): Promise<void> {
    await this.#load()
    const d = this.#find(handle)
    if (d !== undefined) await this.#forget(d)
  }

  async list (): Promise<string[]> {
    await this.#load()
    return [...this.#domains.keys()].sort()
  }

  async recover (handle: DomainHandle): Promise<DomainStatus> {
    await this.#load()
    return this.#statusOf(this.#find(handle))
  }

  /** Loads the table once, on first use (work happens in calls, never in the constructor). */
  #load (): Promise<void> {
    this.#loaded ??= (async () => {
      if (this.#stateFile === undefined) return
      let file: unknown
      try {
        file = await readJson(this.#stateFile)
      } catch (e) {
        throw new DriverError('sim', undefined, `cannot read state file ${this.#stateFile}`, { cause: e })
      }
      if (file === undefined) return
      for (const d of parseTable(file, this.#stateFile)) this.#domains.set(d.name, d)
    })()
    return this.#loaded
  }

  #find (handle: DomainHandle): SimDomain | undefined {
    if (handle?.driver !== 'sim') throw new DriverError('sim', handle?.name, `not a sim handle (driver ${JSON.stringify(handle?.driver)})`)
    const d = this.#domains.get(handle.name)
    // Same name but another id: the handle's domain is gone and a new one took its name. A handle without an id is
    // a name-only handle (a domain whose start was interrupted before its handle was saved): match by name.
    if (d === undefined) return undefined
    return handle.data?.id === undefined || d.id === handle.data.id ? d : undefined
  }

  async #forget (d: SimDomain): Promise<void> {
    if (this.#domains.get(d.name)?.id !== d.id) return
    this.#domains.delete(d.name)
    await this.#writer.flush()
  }

  #stateOf (d: SimDomain): DomainState {
    const now = this.#clock.now()
    if (d.crashAt !== undefined && now >= d.crashAt) return 'crashed'
    if (this.#stopping.has(d.id)) return 'shutting-down'
    return now < d.runningAt ? 'starting' : 'running'
  }

  #statusOf (d: SimDomain | undefined): DomainStatus {
    if (d === undefined) return { state: 'missing', reason: 'no such domain on this host' }
    const state = this.#stateOf(d)
    if (state === 'crashed') return { state, reason: `crashed (simCrashAfterMs ${d.crashAt! - d.runningAt} ms after it was running)` }
    return { state }
  }

  #used (): HostCapacity {
    let memoryMiB = 0
    let vcpus = 0
    // Crashed domains hold their resources until destroyed, as a crashed Xen domain does.
    for (const d of this.#domains.values()) { memoryMiB += d.memoryMiB; vcpus += d.vcpus }
    return { memoryMiB, vcpus }
  }
}

function parseTable (file: unknown, path: string): SimDomain[] {
  const bad = (why: string): DriverError => new DriverError('sim', undefined, `state file ${path} is malformed: ${why}`)
  if (typeof file !== 'object' || file === null) throw bad('not an object')
  const { version, domains } = file as { version?: unknown, domains?: unknown }
  if (version !== FILE_VERSION) throw bad(`unknown version ${JSON.stringify(version)}`)
  if (!Array.isArray(domains)) throw bad('no domains array')
  return domains.map((d: Partial<SimDomain>, i) => {
    const ok = typeof d === 'object' && d !== null && typeof d.id === 'string' && typeof d.name === 'string' && NAME.test(d.name) &&
      typeof d.memoryMiB === 'number' && typeof d.vcpus === 'number' && typeof d.runningAt === 'number' &&
      typeof d.shutdownMs === 'number' && typeof d.ignoreShutdown === 'boolean' && (d.crashAt === undefined || typeof d.crashAt === 'number')
    if (!ok) throw bad(`entry ${i}`)
    return d as SimDomain
  })
}
