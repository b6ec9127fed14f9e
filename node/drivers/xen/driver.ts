import { access, mkdir, readdir, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { ExecaShell } from '../../seams/execa-shell.ts'
import type { Shell, ShellResult } from '../../seams/shell.ts'
import { DriverError } from '../types.ts'
import type { DomainHandle, DomainSpec, DomainStatus, Fingerprint, HostCapacity, HypervisorDriver } from '../types.ts'
import { xlConfig } from './config.ts'
import { writeFileAtomic } from './files.ts'

// Xen through its own toolstack CLI, xl (the seeds used xm): one generated config file per domain under STATE/xen,
// `xl create`, `xl list NAME` for the state flags, `xl list -l` (JSON) for the domains present, `xl shutdown -w`
// under a timeout then `xl destroy`. Every call goes through the Shell seam as an argument array. On a real dom0
// it needs nothing more than xl on PATH and a state dir; here the tests put a recording stand-in in its place.

export interface XenDriverOptions {
  stateDir: string
  shell?: Shell
  /** The xl program; default `xl` from PATH. */
  xl?: string
  /** Offered capacity; default: xl info's free_memory and nr_cpus. */
  capacity?: HostCapacity
  /** Timeout of xl create/destroy/list. Default 120 s (xl create waits for the domain's devices). */
  commandTimeoutMs?: number
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/

export class XenDriver implements HypervisorDriver {
  readonly name = 'xen'
  readonly #dir: string
  readonly #shell: Shell
  readonly #xl: string
  readonly #options: XenDriverOptions

  constructor (options: XenDriverOptions) {
    this.#options = options
    this.#dir = join(resolve(options.stateDir), 'xen')
    this.#shell = options.shell ?? new ExecaShell()
    this.#xl = options.xl ?? 'xl'
  }

  configPath (name: string): string {
    return join(this.#dir, `${name}.cfg`)
  }

  async fingerprint (options: { signal?: AbortSignal } = {}): Promise<Fingerprint> {
    let info: Record<string, string>
    try {
      info = parseInfo((await this.#xlRun(['info'], options.signal)).stdout)
    } catch (err) {
      return { driver: this.name, available: false, reason: `xl info failed: ${(err as Error).message}`, capacity: this.#options.capacity ?? { memoryMiB: 0, vcpus: 0 }, details: {} }
    }
    const capacity = this.#options.capacity ?? { memoryMiB: Number(info.free_memory ?? 0), vcpus: Number(info.nr_cpus ?? 0) }
    const details: Record<string, string> = {}
    for (const key of ['xen_version', 'xen_caps', 'host']) if (info[key] !== undefined) details[key] = info[key]
    return { driver: this.name, available: true, capacity, details }
  }

  async start (spec: DomainSpec, options: { signal?: AbortSignal } = {}): Promise<DomainHandle> {
    const name = this.#checkName(spec.name)
    const config = xlConfig(spec)
    if ((await this.#present(options.signal)).includes(name)) throw new DriverError(this.name, name, 'a domain with this name already exists')
    await mkdir(this.#dir, { recursive: true })
    const cfg = this.configPath(name)
    await writeFileAtomic(cfg, config)
    try {
      await this.#xlRun(['create', cfg], options.signal)
    } catch (err) {
      // xl create can leave a half-built domain behind; the spec promises nothing is left.
      await this.#xlRun(['destroy', name]).catch(() => {})
      await rm(cfg, { force: true })
      throw new DriverError(this.name, name, `xl create failed: ${(err as Error).message}`, { cause: err })
    }
    const row = await this.#row(name, options.signal)
    return { driver: this.name, name, data: { domid: row?.domid ?? -1, config: cfg, type: String(spec.options.xenType ?? 'pv') } }
  }

  async status (handle: DomainHandle, options: { signal?: AbortSignal } = {}): Promise<DomainStatus> {
    const name = this.#fromHandle(handle)
    const row = await this.#row(name, options.signal)
    if (row === undefined) {
      if (await exists(this.configPath(name))) return { state: 'stopped', reason: `domain ${name} is gone (powered off, or destroyed outside sdpeer)` }
      return { state: 'missing' }
    }
    const f = row.state
    if (f.includes('c')) return { state: 'crashed', reason: `xl reports domain ${name} (id ${row.domid}) crashed (state ${f})` }
    if (f.includes('d') || f.includes('s')) return { state: 'shutting-down' }
    if (f.includes('p')) return { state: 'paused' }
    return { state: 'running' }
  }

  async shutdown (handle: DomainHandle, timeoutMs: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    const name = this.#fromHandle(handle)
    if (await this.#row(name, options.signal) !== undefined) {
      // -F: an HVM guest without PV drivers gets an ACPI power button press instead.
      const args = handle.data.type === 'hvm' ? ['shutdown', '-w', '-F', name] : ['shutdown', '-w', name]
      const ok = await this.#shell.run({ file: this.#xl, args, timeoutMs: Math.max(1, timeoutMs), signal: options.signal }).then(() => true, () => false)
      if (!ok || await this.#row(name) !== undefined) await this.#destroyIfPresent(name)
    }
    await rm(this.configPath(name), { force: true })
  }

  async destroy (handle: DomainHandle, options: { signal?: AbortSignal } = {}): Promise<void> {
    const name = this.#fromHandle(handle)
    await this.#destroyIfPresent(name, options.signal)
    await rm(this.configPath(name), { force: true })
  }

  async list (options: { signal?: AbortSignal } = {}): Promise<string[]> {
    // Only the domains this driver created (a config file in its dir): dom0 and foreign guests are not ours to manage.
    const present = new Set(await this.#present(options.signal))
    let files: string[]
    try {
      files = await readdir(this.#dir)
    } catch {
      return []
    }
    return files.filter(f => f.endsWith('.cfg')).map(f => f.slice(0, -4)).filter(n => present.has(n)).sort()
  }

  async recover (handle: DomainHandle, options: { signal?: AbortSignal } = {}): Promise<DomainStatus> {
    return await this.status(handle, options)
  }

  async #destroyIfPresent (name: string, signal?: AbortSignal): Promise<void> {
    try {
      await this.#xlRun(['destroy', name], signal)
    } catch (err) {
      if (await this.#row(name, signal) !== undefined) throw new DriverError(this.name, name, `xl destroy failed: ${(err as Error).message}`, { cause: err })
    }
  }

  /** Names of all domains xl knows (`xl list -l`, JSON). */
  async #present (signal?: AbortSignal): Promise<string[]> {
    const out = (await this.#xlRun(['list', '-l'], signal)).stdout.trim()
    if (out === '') return []
    let parsed: unknown
    try {
      parsed = JSON.parse(out)
    } catch (err) {
      throw new DriverError(this.name, undefined, `xl list -l did not print JSON: ${out.slice(0, 200)}`, { cause: err })
    }
    if (!Array.isArray(parsed)) throw new DriverError(this.name, undefined, 'xl list -l did not print a JSON array')
    return parsed.map(d => (d as { config?: { c_info?: { name?: unknown } } }).config?.c_info?.name).filter((n): n is string => typeof n === 'string')
  }

  /** One row of `xl list NAME`, or undefined when xl says there is no such domain. */
  async #row (name: string, signal?: AbortSignal): Promise<{ domid: number, state: string } | undefined> {
    let result: ShellResult
    try {
      result = await this.#xlRun(['list', name], signal)
    } catch (err) {
      const stderr = (err as { stderr?: string }).stderr ?? ''
      if (/invalid domain identifier|not found|no such domain/i.test(stderr)) return undefined
      throw new DriverError(this.name, name, `xl list failed: ${(err as Error).message}`, { cause: err })
    }
    for (const line of result.stdout.split('\n')) {
      const cols = line.trim().split(/\s+/)
      if (cols[0] === name && cols.length >= 6) return { domid: Number(cols[1]), state: cols[4] ?? '' }
    }
    return undefined
  }

  #xlRun (args: string[], signal?: AbortSignal): Promise<ShellResult> {
    return this.#shell.run({ file: this.#xl, args, timeoutMs: this.#options.commandTimeoutMs ?? 120_000, signal })
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

function parseInfo (text: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const line of text.split('\n')) {
    const i = line.indexOf(':')
    if (i > 0) out[line.slice(0, i).trim()] = line.slice(i + 1).trim()
  }
  return out
}

async function exists (path: string): Promise<boolean> {
  return await access(path).then(() => true, () => false)
}
