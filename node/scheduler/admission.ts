// The host is the judge. Every placement is a reservation this host admits only if it still has the resources;
// check and charge happen in one synchronous call (JavaScript runs it to the end before any other message is
// handled), so no number of peers reserving at once can over-commit the host. Retries are idempotent by request id,
// a reservation never committed expires, and a VM's epoch fences stale placements: once a host has seen epoch e of
// a VM it refuses any lower epoch of it.

import type { Clock, Timer } from '../seams/clock.ts'
import type { CommitAnswer, ReserveAnswer, ReserveRequest, Resources } from './types.ts'

export type EntryState = 'reserved' | 'committed'

export interface AdmissionEntry {
  requestId: string
  pool: string
  vmId: string
  epoch: number
  memoryMiB: number
  vcpus: number
  state: EntryState
  /** Clock time after which a still-reserved entry is dropped. */
  expiresAt: number
}

export interface Accounting {
  capacity: Resources
  reserved: Resources
  committed: Resources
  free: Resources
  entries: AdmissionEntry[]
}

export interface HostAdmissionInit {
  host: string
  capacity: Resources
  clock: Clock
  /**
   * How long a reservation waits for its commit. Default 120 s: well over the deploy's prepare lease (30 s, up to
   * 6 request timeouts), which is what gives a prepared deploy's reservations back; this is only the net under it.
   * Were it as short as the lease, a commit the participant accepted just inside its lease (its timer late on a
   * loaded host) could find the reservation gone, and the domain would run outside the accounting.
   */
  reservationTtlMs?: number
  /** How long a refusal is remembered for its request id (a late duplicate gets the same answer). Default 60 s. */
  refusalMemoryMs?: number
  /** Where the version counter starts: a restarted daemon passes its saved one so views do not ignore it. Default 0. */
  initialVersion?: number
}

const vmKey = (pool: string, vmId: string): string => `${pool}\u0000${vmId}`

export class HostAdmission {
  readonly host: string
  readonly capacity: Resources
  readonly #clock: Clock
  readonly #ttl: number
  readonly #refusalMemory: number
  readonly #entries = new Map<string, AdmissionEntry>()
  readonly #byVm = new Map<string, string>()
  readonly #epochs = new Map<string, number>()
  readonly #refused = new Map<string, { answer: ReserveAnswer, until: number }>()
  #used: Resources = { memoryMiB: 0, vcpus: 0 }
  #version = 0
  #draining = false
  #timer: Timer | undefined
  /** Called with every change of the accounting (the daemon re-announces the host). */
  onChange: ((version: number) => void) | undefined

  constructor (init: HostAdmissionInit) {
    this.host = init.host
    this.capacity = { ...init.capacity }
    this.#clock = init.clock
    this.#ttl = init.reservationTtlMs ?? 120_000
    this.#refusalMemory = init.refusalMemoryMs ?? 60_000
    this.#version = init.initialVersion ?? 0
  }

  /** Starts the periodic expiry sweep (reservations also expire lazily on every call). */
  start (): void {
    const tick = (): void => { this.sweep(); this.#timer = this.#clock.setTimeout(tick, Math.max(100, this.#ttl / 4)) }
    this.#timer = this.#clock.setTimeout(tick, Math.max(100, this.#ttl / 4))
  }

  stop (): void { this.#timer?.cancel(); this.#timer = undefined }

  get version (): number { return this.#version }

  free (): Resources {
    return { memoryMiB: this.capacity.memoryMiB - this.#used.memoryMiB, vcpus: this.capacity.vcpus - this.#used.vcpus }
  }

  /** While draining (e.g. fencing after a return from the dead), every reservation is refused. */
  setDraining (draining: boolean): void { this.#draining = draining }

  /** Admits or refuses; synchronous on purpose (see the file comment). Never throws for a well-formed request. */
  reserve (req: ReserveRequest): ReserveAnswer {
    const now = this.#clock.now()
    this.sweep(now)
    const existing = this.#entries.get(req.requestId)
    if (existing) return this.#admitted(req.requestId)
    const remembered = this.#refused.get(req.requestId)
    if (remembered) return remembered.answer
    const key = vmKey(req.pool, req.vmId)
    const seenEpoch = this.#epochs.get(key) ?? 0
    if (req.epoch < seenEpoch) {
      return this.#refuse(req, 'stale-epoch', `epoch ${req.epoch} of ${req.pool}/${req.vmId} is older than ${seenEpoch}`, now)
    }
    const heldId = this.#byVm.get(key)
    const held = heldId !== undefined ? this.#entries.get(heldId) : undefined
    // The same VM at the same epoch under another request id: a coordinator that took over asks again, or a deploy
    // retried after an abort that never reached us. One copy. A copy still only reserved passes to the new id: the
    // old one's lease or abort would otherwise release what the new one is about to commit.
    if (held && held.epoch === req.epoch) {
      if (held.state === 'reserved') {
        this.#entries.delete(held.requestId)
        const moved = { ...held, requestId: req.requestId, expiresAt: now + this.#ttl }
        this.#entries.set(req.requestId, moved)
        this.#byVm.set(key, req.requestId)
        return this.#admitted(req.requestId)
      }
      return this.#admitted(held.requestId)
    }
    if (this.#draining) return this.#refuse(req, 'draining', `${this.host} is fencing its domains`, now)
    if (!Number.isFinite(req.memoryMiB) || !Number.isFinite(req.vcpus) || req.memoryMiB < 0 || req.vcpus < 0) {
      return this.#refuse(req, 'memory', 'invalid resource figures', now)
    }
    // A newer epoch of a VM this host holds replaces the old copy (it is fenced), so its resources count once.
    const reuse = held ? { memoryMiB: held.memoryMiB, vcpus: held.vcpus } : { memoryMiB: 0, vcpus: 0 }
    const free = this.free()
    if (free.memoryMiB + reuse.memoryMiB < req.memoryMiB) {
      return this.#refuse(req, 'memory', `needs ${req.memoryMiB} MiB, ${free.memoryMiB} free`, now)
    }
    if (free.vcpus + reuse.vcpus < req.vcpus) {
      return this.#refuse(req, 'vcpus', `needs ${req.vcpus} vcpus, ${free.vcpus} free`, now)
    }
    if (held) this.#drop(held)
    const entry: AdmissionEntry = {
      requestId: req.requestId,
      pool: req.pool,
      vmId: req.vmId,
      epoch: req.epoch,
      memoryMiB: req.memoryMiB,
      vcpus: req.vcpus,
      state: 'reserved',
      expiresAt: now + this.#ttl
    }
    this.#entries.set(req.requestId, entry)
    this.#byVm.set(key, req.requestId)
    this.#epochs.set(key, req.epoch)
    this.#used = { memoryMiB: this.#used.memoryMiB + req.memoryMiB, vcpus: this.#used.vcpus + req.vcpus }
    this.#changed()
    return this.#admitted(req.requestId)
  }

  /** Turns a reservation into a running domain's allocation. Idempotent. */
  commit (requestId: string): CommitAnswer {
    // Committed before the sweep: the caller's lease, not this TTL, decides whether a reservation is still wanted.
    const e = this.#entries.get(requestId)
    if (e !== undefined && e.state !== 'committed') { e.state = 'committed'; this.#changed() }
    this.sweep()
    return e !== undefined ? { committed: true } : { committed: false, reason: this.#refused.has(requestId) ? 'superseded' : 'unknown' }
  }

  /** Frees a reservation or a domain's allocation. Idempotent; false when the id is unknown. */
  release (requestId: string): boolean {
    const e = this.#entries.get(requestId)
    if (!e) return false
    this.#drop(e)
    return true
  }

  /** Drops reservations whose commit never came. */
  sweep (now = this.#clock.now()): void {
    for (const e of this.#entries.values()) {
      if (e.state === 'reserved' && e.expiresAt <= now) this.#drop(e)
    }
    for (const [id, r] of this.#refused) if (r.until <= now) this.#refused.delete(id)
  }

  /** The highest epoch this host has admitted for a VM (0 if never). */
  epochOf (pool: string, vmId: string): number { return this.#epochs.get(vmKey(pool, vmId)) ?? 0 }

  /** Learns a VM's epoch from elsewhere (the pool record) so an older request for it is refused from now on. */
  fence (pool: string, vmId: string, epoch: number): void {
    const key = vmKey(pool, vmId)
    if ((this.#epochs.get(key) ?? 0) < epoch) this.#epochs.set(key, epoch)
    const id = this.#byVm.get(key)
    const e = id !== undefined ? this.#entries.get(id) : undefined
    if (e && e.epoch < epoch) this.#drop(e)
  }

  entries (): AdmissionEntry[] { return [...this.#entries.values()].map(e => ({ ...e })) }

  /** The host's own accounting, recomputed from its entries (tests compare it with the running totals). */
  accounting (): Accounting {
    const reserved = { memoryMiB: 0, vcpus: 0 }; const committed = { memoryMiB: 0, vcpus: 0 }
    for (const e of this.#entries.values()) {
      const t = e.state === 'reserved' ? reserved : committed
      t.memoryMiB += e.memoryMiB; t.vcpus += e.vcpus
    }
    return { capacity: { ...this.capacity }, reserved, committed, free: this.free(), entries: this.entries() }
  }

  #drop (e: AdmissionEntry): void {
    if (!this.#entries.delete(e.requestId)) return
    const key = vmKey(e.pool, e.vmId)
    if (this.#byVm.get(key) === e.requestId) this.#byVm.delete(key)
    this.#used = { memoryMiB: this.#used.memoryMiB - e.memoryMiB, vcpus: this.#used.vcpus - e.vcpus }
    this.#changed()
  }

  #changed (): void { this.#version++; this.onChange?.(this.#version) }

  #admitted (requestId: string): ReserveAnswer {
    return { admitted: true, requestId, host: this.host, free: this.free(), version: this.#version }
  }

  #refuse (req: ReserveRequest, reason: 'memory' | 'vcpus' | 'stale-epoch' | 'draining', detail: string, now: number): ReserveAnswer {
    const answer: ReserveAnswer = { admitted: false, requestId: req.requestId, host: this.host, reason, detail, free: this.free(), version: this.#version }
    this.#refused.set(req.requestId, { answer, until: now + this.#refusalMemory })
    return answer
  }
}
