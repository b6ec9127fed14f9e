import { mkdir, readdir, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { realClock } from '../../seams/clock.ts'
import type { Clock } from '../../seams/clock.ts'
import { ExecaShell } from '../../seams/execa-shell.ts'
import type { Shell, ShellResult } from '../../seams/shell.ts'
import { writeFileAtomic } from './files.ts'
import { lastMatch, tail } from '../qemu/files.ts'
import { DriverError } from '../types.ts'
import type { DomainHandle, DomainSpec, DomainStatus, Fingerprint, HostCapacity, HypervisorDriver } from '../types.ts'
import { domainXml } from './domain-xml.ts'

// libvirt through virsh (argument arrays through the Shell seam, `-c URI` first): the domain XML is written under
// STATE/libvirt, then `virsh define`, `start`, `domstate --reason` for status, `shutdown` (ACPI) polled until
// "shut off" or the timeout, then `destroy`, and `undefine` so nothing stays defined. libvirtd keeps the domains,
// so a restarted daemon re-attaches by name. Checked against libvirt 9.0 (test/drivers/libvirt-real.test.ts):
// a qemu killed from outside reads "shut off (crashed)", a guest panic "crashed (panicked)" (still active).

export interface LibvirtDriverOptions {
  stateDir: string
  shell?: Shell
  clock?: Clock
  /** Default `virsh` from PATH. */
  virsh?: string
  /** Default qemu:///system. */
  uri?: string
  /** libvirt domain type: 'kvm' or 'qemu' (TCG). Default 'kvm'. */
  domainType?: 'kvm' | 'qemu'
  capacity?: HostCapacity
  commandTimeoutMs?: number
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/
const MISSING = /failed to get domain|domain not found|no domain with matching name/i

export class LibvirtDriver implements HypervisorDriver {
  readonly name = 'libvirt'
  readonly #dir: string
  readonly #shell: Shell
  readonly #clock: Clock
  readonly #virsh: string
  readonly #uri: string
  readonly #options: LibvirtDriverOptions

  constructor (options: LibvirtDriverOptions) {
    this.#options = options
    this.#dir = join(resolve(options.stateDir), 'libvirt')
    this.#shell = options.shell ?? new ExecaShell()
    this.#clock = options.clock ?? realClock
    this.#virsh = options.virsh ?? 'virsh'
    this.#uri = options.uri ?? 'qemu:///system'
  }

  xmlPath (name: string): string { return join(this.#dir, `${name}.xml`) }
  serialLog (name: string): string { return join(this.#dir, `${name}.serial.log`) }

  async fingerprint (options: { signal?: AbortSignal } = {}): Promise<Fingerprint> {
    let info: Record<string, string>
    try {
      info = {}
      for (const line of (await this.#run(['nodeinfo'], options.signal)).stdout.split('\n')) {
        const i = line.indexOf(':')
        if (i > 0) info[line.slice(0, i).trim()] = line.slice(i + 1).trim()
      }
    } catch (err) {
      return { driver: this.name, available: false, reason: `virsh nodeinfo failed: ${(err as Error).message}`, capacity: this.#options.capacity ?? { memoryMiB: 0, vcpus: 0 }, details: { uri: this.#uri } }
    }
    const capacity = this.#options.capacity ?? {
      memoryMiB: Math.floor(Number.parseInt(info['Memory size'] ?? '0', 10) / 1024),
      vcpus: Number.parseInt(info['CPU(s)'] ?? '0', 10)
    }
    return { driver: this.name, available: true, capacity, details: { uri: this.#uri, domainType: this.#options.domainType ?? 'kvm' } }
  }

  async start (spec: DomainSpec, options: { signal?: AbortSignal } = {}): Promise<DomainHandle> {
    const name = this.#checkName(spec.name)
    const xml = domainXml(spec, { type: this.#options.domainType ?? 'kvm', serialLog: this.serialLog(name) })
    if (await this.#state(name, options.signal) !== undefined) throw new DriverError(this.name, name, 'a domain with this name is already defined')
    await mkdir(this.#dir, { recursive: true })
    // libvirt opens the serial log in append mode: a log left by an earlier domain of this name would be read as
    // this one's (its ready line, its panic).
    await rm(this.serialLog(name), { force: true })
    await writeFileAtomic(this.xmlPath(name), xml)
    try {
      await this.#run(['define', this.xmlPath(name)], options.signal)
    } catch (err) {
      await rm(this.xmlPath(name), { force: true })
      throw new DriverError(this.name, name, `virsh define failed: ${(err as Error).message}`, { cause: err })
    }
    try {
      await this.#run(['start', name], options.signal)
    } catch (err) {
      await this.#run(['destroy', name]).catch(() => {})
      await this.#run(['undefine', name]).catch(() => {})
      await rm(this.xmlPath(name), { force: true })
      throw new DriverError(this.name, name, `virsh start failed: ${(err as Error).message}`, { cause: err })
    }
    return { driver: this.name, name, data: { uri: this.#uri, xml: this.xmlPath(name) } }
  }

  async status (handle: DomainHandle, options: { signal?: AbortSignal } = {}): Promise<DomainStatus> {
    const name = this.#fromHandle(handle)
    const s = await this.#state(name, options.signal)
    if (s === undefined) return { state: 'missing' }
    const [state, reason] = s
    if (state === 'running' || state === 'idle' || state === 'blocked' || state === 'no state') return { state: 'running' }
    if (state === 'paused' || state === 'pmsuspended') return { state: 'paused', ...(reason ? { reason } : {}) }
    if (state === 'in shutdown') return { state: 'shutting-down' }
    if (state === 'crashed' || (state === 'shut off' && (reason === 'crashed' || reason === 'failed'))) {
      // libvirt says only "panicked" or "crashed"; the guest's own last words are in its serial log.
      const log = this.serialLog(name)
      const panic = await lastMatch(log, /Kernel panic/)
      const last = panic !== undefined ? [panic.trim()] : await tail(log, 3)
      return { state: 'crashed', reason: `libvirt reports ${state}${reason ? ` (${reason})` : ''}${last.length > 0 ? `; serial log: ${last.join(' | ')}` : ''}` }
    }
    return { state: 'stopped', reason: `libvirt reports ${state}${reason ? ` (${reason})` : ''}` }
  }

  async shutdown (handle: DomainHandle, timeoutMs: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    const name = this.#fromHandle(handle)
    const deadline = this.#clock.now() + timeoutMs
    const s = await this.#state(name, options.signal)
    // A crashed guest (a panic, kept by on_crash preserve) hears no power button: straight to destroy.
    if (s !== undefined && s[0] !== 'shut off' && s[0] !== 'crashed') {
      await this.#run(['shutdown', name], options.signal).catch(() => {})
      while (this.#clock.now() < deadline && await this.#active(name, options.signal)) {
        await this.#clock.sleep(Math.min(200, Math.max(1, deadline - this.#clock.now())), options).catch(() => {})
        if (options.signal?.aborted) break
      }
    }
    await this.destroy(handle, options)
  }

  async destroy (handle: DomainHandle, options: { signal?: AbortSignal } = {}): Promise<void> {
    const name = this.#fromHandle(handle)
    if (await this.#active(name, options.signal)) {
      await this.#run(['destroy', name], options.signal).catch(async err => {
        if (await this.#active(name)) throw new DriverError(this.name, name, `virsh destroy failed: ${(err as Error).message}`, { cause: err })
      })
    }
    if (await this.#state(name, options.signal) !== undefined) {
      await this.#run(['undefine', name], options.signal).catch(async err => {
        if (await this.#state(name) !== undefined) throw new DriverError(this.name, name, `virsh undefine failed: ${(err as Error).message}`, { cause: err })
      })
    }
    await rm(this.xmlPath(name), { force: true })
  }

  async list (options: { signal?: AbortSignal } = {}): Promise<string[]> {
    const running = new Set((await this.#run(['list', '--name'], options.signal)).stdout.split('\n').map(l => l.trim()).filter(l => l !== ''))
    let files: string[]
    try {
      files = await readdir(this.#dir)
    } catch {
      return []
    }
    return files.filter(f => f.endsWith('.xml')).map(f => f.slice(0, -4)).filter(n => running.has(n)).sort()
  }

  async recover (handle: DomainHandle, options: { signal?: AbortSignal } = {}): Promise<DomainStatus> {
    return await this.status(handle, options)
  }

  /** libvirt's "active": its qemu exists, also for a guest that crashed and is kept by on_crash preserve. Such a
   * domain must be destroyed first: `undefine` of an active domain only makes it transient, still there. */
  async #active (name: string, signal?: AbortSignal): Promise<boolean> {
    const s = await this.#state(name, signal)
    return s !== undefined && s[0] !== 'shut off'
  }

  /** `virsh domstate NAME --reason` as [state, reason], or undefined when libvirt has no such domain. */
  async #state (name: string, signal?: AbortSignal): Promise<[string, string] | undefined> {
    let out: ShellResult
    try {
      out = await this.#run(['domstate', name, '--reason'], signal)
    } catch (err) {
      if (MISSING.test((err as { stderr?: string }).stderr ?? '')) return undefined
      throw new DriverError(this.name, name, `virsh domstate failed: ${(err as Error).message}`, { cause: err })
    }
    const m = /^\s*([a-z ]+?)\s*(?:\(([^)]*)\))?\s*$/m.exec(out.stdout)
    return m === null ? ['no state', ''] : [m[1] ?? 'no state', m[2] ?? '']
  }

  #run (args: string[], signal?: AbortSignal): Promise<ShellResult> {
    return this.#shell.run({ file: this.#virsh, args: ['-c', this.#uri, ...args], timeoutMs: this.#options.commandTimeoutMs ?? 120_000, signal })
  }

  #checkName (name: string): string {
    if (typeof name !== 'string' || !NAME.test(name)) throw new DriverError(this.name, undefined, `invalid domain name ${JSON.stringify(name)}`)
    return name
  }

  #fromHandle (handle: DomainHandle): string {
    if (handle.driver !== this.name) throw new DriverError(this.name, handle.name, `handle belongs to driver ${handle.driver}`)
    return this.#checkName(handle.name)
  }
}
