import { closeSync, fstatSync, openSync, readSync } from 'node:fs'
import { isAbsolute } from 'node:path'
import type { DomainHandle, DomainSpec } from '../drivers/types.ts'
import { LiveComponent } from '../engine/component.ts'
import type { Timer } from '../seams/clock.ts'
import type { TerminationRecord } from '../engine/types.ts'
import { EngineError } from '../engine/types.ts'
import { sizeMiB } from '../sf/schemas.ts'
import type { PreparedStorage, TeardownOptions } from '../storage/types.ts'
import { StorageBackendComponent } from './storage-backend.ts'
import { checkDomainName, checkHostname, checkIPv4, checkNetmask } from './validate.ts'

// XenDomain (and its VM alias): a guest started through the host's hypervisor driver on the disks its storage
// backend prepared. It watches its domain every domainLivenessDelay ms; a domain that died or vanished ends it
// ABNORMAL with the driver's reason, seen within delay x factor.

const DEAD = new Set(['stopped', 'crashed', 'missing'])
const CONSOLE_BYTES = 64 * 1024
/** Description attributes the drivers read from DomainSpec.options (qemu: node/drivers/qemu/cmdline.ts; xen: xenType). */
const DRIVER_OPTIONS = new Set(['accel', 'forwardPort', 'guestPort', 'network', 'tap', 'bridge', 'netns', 'mac', 'xenType'])

export class XenDomain extends LiveComponent {
  private watch: Timer | undefined
  private missedChecks = 0

  get handle (): DomainHandle | undefined {
    return this.saved.handle as DomainHandle | undefined
  }

  protected override async onDeploy (): Promise<void> {
    const problems: string[] = []
    for (const a of ['ip', 'gateway']) {
      const v = this.string(a)
      const bad = v === undefined ? undefined : checkIPv4(a, v)
      if (bad) problems.push(bad)
    }
    const mask = this.string('netmask')
    if (mask !== undefined) { const bad = checkNetmask('netmask', mask); if (bad) problems.push(bad) }
    const host = this.string('hostname')
    if (host !== undefined) { const bad = checkHostname('hostname', host); if (bad) problems.push(bad) }
    const dn = this.string('domainName')
    if (dn !== undefined) { const bad = checkDomainName('domainName', dn); if (bad) problems.push(bad) }
    for (const a of ['kernel', 'ramdisk', 'extra']) {
      const v = this.string(a)
      if (v !== undefined && /[\0\n\r]/.test(v)) problems.push(`attribute ${a}: control characters are not allowed`)
    }
    try { this.memoryMiB() } catch (err) { problems.push((err as Error).message) }
    const vcpus = this.number('vcpus', 1)
    if (vcpus < 1 || !Number.isInteger(vcpus)) problems.push('attribute vcpus must be a positive integer')
    if (problems.length) throw new EngineError(problems.join('; '), this.pool, this.path)
  }

  private storage (): StorageBackendComponent | undefined {
    if (!Object.hasOwn(this.attrs, 'storageBackend')) return undefined
    const c = this.component('storageBackend')
    if (c && !(c instanceof StorageBackendComponent)) throw new EngineError(`storageBackend leads to ${c.path}, a ${c.type}, not a storage backend`, this.pool, this.path)
    return c
  }

  domainName (backend: StorageBackendComponent | undefined): string {
    const name = this.string('domainName') ?? backend?.domainName() ?? `${this.pool}-${this.path.replaceAll(':', '-')}`
    const bad = checkDomainName('domainName', name)
    if (bad) throw new EngineError(bad, this.pool, this.path)
    return name
  }

  /** `memory` is an Integer (MiB) or a size String ("512M", "1G"), as the schema says; default 512. */
  memoryMiB (): number {
    const v = this.value('memory')
    if (v === undefined || v === null) return 512
    const mib = sizeMiB(v)
    if (mib === undefined || mib <= 0) throw new EngineError(`attribute memory: ${JSON.stringify(v)} is not a positive size (Integer MiB or "512M", "1G")`, this.pool, this.path)
    return Math.ceil(mib)
  }

  spec (name: string, prepared: PreparedStorage | undefined): DomainSpec {
    const spec: DomainSpec = {
      name,
      memoryMiB: this.memoryMiB(),
      vcpus: this.number('vcpus', 1),
      disks: prepared?.disks ?? [],
      options: {}
    }
    for (const a of ['kernel', 'ramdisk', 'extra', 'hostname', 'ip', 'netmask', 'gateway'] as const) {
      const v = this.string(a)
      if (v !== undefined) spec[a] = v
    }
    for (const k of Object.keys(this.attrs)) {
      if (!/^(sim|qemu)[A-Z]/.test(k) && !DRIVER_OPTIONS.has(k)) continue
      const v = this.value(k)
      if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') spec.options[k] = v
    }
    return spec
  }

  /**
   * keepVolumes and saveImage* set on the domain act on its backend at teardown; checked here when `set` changes
   * one of them, so a value that would stop the teardown is refused at once.
   */
  teardownOptions (): TeardownOptions {
    const backend = this.storage()
    if (backend === undefined) {
      if (this.bool('saveImage', false)) throw new EngineError('saveImage: this domain has no storageBackend whose image could be saved', this.pool, this.path)
      return { keepVolumes: this.bool('keepVolumes', false) }
    }
    backend.attachDomain(this)
    return backend.teardownOptions()
  }

  /** Attaches to the backend (whose teardown reads this domain's termination-time attributes); quiet when unresolvable. */
  private attachToBackend (): void {
    try { this.storage()?.attachDomain(this) } catch { /* its own start or teardown reports a bad storageBackend */ }
  }

  protected override onRestore (): void {
    this.attachToBackend()
  }

  protected override async onStart (): Promise<void> {
    const backend = this.storage()
    backend?.attachDomain(this)
    const prepared = backend ? await backend.ready() : undefined
    const name = this.domainName(backend)
    const spec = this.spec(name, prepared)
    // No intent is written before the driver acts: the name is derived from the description, so a daemon killed
    // during start finds the domain by name (onTerminate below) without an fsync per VM.
    this.saved = { domainName: name, starting: true }
    let handle: DomainHandle
    try {
      handle = await this.env.driver.start(spec, { signal: this.terminationSignal })
    } catch (err) {
      this.saved = {}
      this.log('error', `domain ${name} failed to start: ${(err as Error).message}`)
      if (backend && !this.isTerminating) await backend.discard(`domain ${name} failed to start`).catch(e => this.log('error', `discarding storage: ${(e as Error).message}`))
      throw err
    }
    if (this.isTerminating) {
      // Termination began while the driver was starting it and the driver did not abort: it must not outlive us.
      await this.env.driver.destroy(handle)
      this.saved = {}
      throw new EngineError(`domain ${name} started after termination began; destroyed`, this.pool, this.path)
    }
    this.saved = { domainName: name, handle }
    // The pool's `running` record, written before deploy returns, holds every handle; until then a lost write only
    // means recovery finds this domain by name.
    this.saveLater()
    this.log('info', `domain ${name} started (${this.env.driver.name})`)
  }

  protected override onRunning (): void {
    if (!this.bool('domainLivenessCheck', true) || !this.handle) return
    const delay = this.number('domainLivenessDelay', 2000)
    const factor = Math.max(1, this.number('domainLivenessFactor', 3))
    if (delay <= 0) return
    const tick = (): void => {
      this.watch = this.env.clock.setTimeout(() => { void this.check(factor).then(() => { if (this.watch) tick() }) }, delay)
    }
    tick()
  }

  protected override onStopWatching (): void {
    this.watch?.cancel()
    this.watch = undefined
  }

  private async check (factor: number): Promise<void> {
    const handle = this.handle
    if (!handle || this.isTerminating) return
    let reason: string | undefined
    try {
      const st = await this.env.driver.status(handle)
      this.missedChecks = 0
      if (DEAD.has(st.state)) reason = `domain ${handle.name} ${st.state}${st.reason ? `: ${st.reason}` : ''}`
    } catch (err) {
      this.missedChecks++
      this.log('warn', `domain liveness check ${this.missedChecks}/${factor} failed: ${(err as Error).message}`)
      if (this.missedChecks >= factor) reason = `domain ${handle.name}: ${this.missedChecks} liveness checks failed (${(err as Error).message})`
    }
    if (reason && !this.isTerminating) {
      this.onStopWatching()
      this.log('error', reason)
      void this.terminate({ type: 'abnormal', reason, path: this.path })
    }
  }

  protected override async onTerminate (_record: TerminationRecord): Promise<void> {
    this.attachToBackend()
    const handle = this.handle
    if (handle) {
      await this.env.driver.shutdown(handle, this.number('shutdownTimeout', 10_000))
      this.log('info', `domain ${handle.name} shut down`)
    } else if (this.restored) {
      await this.destroyByName()
    }
    this.saved = {}
    this.saveLater()
  }

  /**
   * A domain started without its handle on record (daemon killed during start, or before the handle's write):
   * found by the name the description gives it, and destroyed unless another pool of this host holds that name.
   */
  private async destroyByName (): Promise<void> {
    let name = this.saved.domainName as string | undefined
    if (name === undefined) {
      try { name = this.domainName(this.storage()) } catch { return }
    }
    if (this.env.domainClaimedElsewhere(name)) return
    const running = await this.env.driver.list()
    if (!running.includes(name)) return
    await this.env.driver.destroy({ driver: this.env.driver.name, name, data: {} })
    this.log('info', `domain ${name} destroyed (started without a recorded handle)`)
  }

  /**
   * The guest's console as the driver records it (qemu: the handle's data.serialLog), its last CONSOLE_BYTES, for
   * `sdpeer logs` after this component's own lines. Read only on request, so a quiet guest costs nothing.
   */
  consoleLines (): string[] {
    const file = this.handle?.data.serialLog
    // The handle comes from our own state dir, but only a driver's serial log is ever read through it.
    if (typeof file !== 'string' || !isAbsolute(file) || !file.endsWith('.serial.log')) return []
    let fd: number | undefined
    try {
      fd = openSync(file, 'r')
      const size = fstatSync(fd).size
      const start = Math.max(0, size - CONSOLE_BYTES)
      const buf = Buffer.alloc(size - start)
      const n = readSync(fd, buf, 0, buf.length, start)
      const lines = buf.subarray(0, n).toString('utf8').replaceAll('\r', '').split('\n')
      if (start > 0) lines.shift()
      if (lines.at(-1) === '') lines.pop()
      return lines.map(l => `console: ${l}`)
    } catch {
      return []
    } finally {
      if (fd !== undefined) closeSync(fd)
    }
  }

  protected override async onResume (): Promise<void> {
    const handle = this.handle
    if (!handle) throw new Error('no domain handle recorded')
    const st = await this.env.driver.recover(handle)
    if (DEAD.has(st.state)) throw new Error(`domain ${handle.name} ${st.state} while the daemon was down${st.reason ? `: ${st.reason}` : ''}`)
    this.log('info', `re-attached to domain ${handle.name} (${st.state})`)
  }
}
