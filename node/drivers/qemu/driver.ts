import { closeSync, openSync } from 'node:fs'
import { access, mkdir, readdir, rm } from 'node:fs/promises'
import { availableParallelism, totalmem } from 'node:os'
import { join, resolve } from 'node:path'
import { loadExeca } from '../../seams/lazy-execa.ts'
import { realClock } from '../../seams/clock.ts'
import type { Clock } from '../../seams/clock.ts'
import { DriverError } from '../types.ts'
import type { DomainHandle, DomainSpec, DomainState, DomainStatus, Fingerprint, HostCapacity, HypervisorDriver } from '../types.ts'
import { probeAccel } from './accel.ts'
import type { AccelChoice } from './accel.ts'
import { domainOptions, qemuArgs } from './cmdline.ts'
import type { Accel } from './cmdline.ts'
import { domainPaths, lastMatch, readJson, removeRuntimeFiles, tail, writeJsonAtomic } from './files.ts'
import type { DomainPaths, DomainRecord, ExitRecord } from './files.ts'
import { identify, isAlive, signalGroup } from './process.ts'
import type { ProcessIdentity } from './process.ts'
import { qmpCommand } from './qmp.ts'
import type { QmpError } from './qmp.ts'

// One qemu-system-x86_64 process per domain, started detached (its own process group, stdio to files, not killed
// with the daemon) so guests outlive a daemon restart; status through QMP; identity of the process by pid + start
// time so a recycled pid is never mistaken for (or signalled as) a guest.

export interface QemuDriverOptions {
  /** The daemon's state dir; the driver keeps its files in STATE/qemu. */
  stateDir: string
  clock?: Clock
  /** Default `qemu-system-x86_64` from PATH. */
  binary?: string
  /** Forces an accelerator for every domain (a domain's `accel` option still wins); default: probe. */
  accel?: Accel
  /** Kernel booted by the KVM probe (see accel.ts). */
  probeKernel?: string
  probeTimeoutMs?: number
  /** Offered capacity; default: host memory less 512 MiB for the host, and its CPU count. */
  capacity?: HostCapacity
  /** How long start() waits for QMP to report the guest running. Default 15 s. */
  startTimeoutMs?: number
  /**
   * Firmware for guests booted from a kernel: 'qboot' (default when QBOOT exists: a minimal firmware that only
   * boots Linux, some seconds faster than SeaBIOS under TCG), 'seabios' (qemu's default), or a path to a -bios image.
   * Guests without a kernel always get SeaBIOS, which can boot from disk.
   */
  firmware?: string
}

const QBOOT = '/usr/share/qemu/qboot.rom'

const NAME = /^[A-Za-z0-9_.-]{1,64}$/
/** sun_path is 108 bytes including the terminating NUL. */
const MAX_SOCKET_PATH = 107
const POLL_MS = 50
const REPRESS_MS = 1_000

interface HandleData {
  pid: number
  startTime: string
  accel: string
  qmpSocket: string
  serialLog: string
}

export class QemuDriver implements HypervisorDriver {
  readonly name = 'qemu'
  readonly #dir: string
  readonly #clock: Clock
  readonly #binary: string
  readonly #options: QemuDriverOptions
  #accel: Promise<AccelChoice> | undefined
  #version: Promise<string | undefined> | undefined
  /** Exit results of the qemu processes this instance started (it is their parent), and their saving to disk. */
  readonly #exits = new Map<string, { id: ProcessIdentity, exit: Promise<ExitRecord>, saved: Promise<void> }>()
  readonly #starting = new Set<string>()
  /** QEMU serves one QMP client at a time and drops the others: this instance's sessions go one after another. */
  readonly #qmpTails = new Map<string, Promise<unknown>>()

  constructor (options: QemuDriverOptions) {
    this.#options = options
    this.#dir = join(resolve(options.stateDir), 'qemu')
    this.#clock = options.clock ?? realClock
    this.#binary = options.binary ?? 'qemu-system-x86_64'
  }

  /** Files of a domain (serial log for `sdpeer logs`, QMP socket for operators). */
  paths (name: string): DomainPaths {
    return domainPaths(this.#dir, name)
  }

  accel (options: { signal?: AbortSignal } = {}): Promise<AccelChoice> {
    if (this.#options.accel !== undefined) return Promise.resolve({ accel: this.#options.accel, reason: 'forced by the daemon configuration' })
    this.#accel ??= mkdir(this.#dir, { recursive: true }).then(() => probeAccel({
      binary: this.#binary,
      workDir: this.#dir,
      kernel: this.#options.probeKernel,
      timeoutMs: this.#options.probeTimeoutMs ?? 3_000,
      signal: options.signal
    }))
    return this.#accel
  }

  async fingerprint (options: { signal?: AbortSignal } = {}): Promise<Fingerprint> {
    this.#version ??= loadExeca()
      .then(async execa => await execa(this.#binary, ['--version'], { reject: false, stdin: 'ignore', timeout: 10_000 }))
      .then(r => r.exitCode === 0 ? String(r.stdout).split('\n')[0] : undefined)
    const version = await this.#version
    const capacity = this.#options.capacity ?? {
      memoryMiB: Math.max(0, Math.floor(totalmem() / 1048576) - 512),
      vcpus: availableParallelism()
    }
    if (version === undefined) {
      return { driver: this.name, available: false, reason: `${this.#binary} cannot be run`, capacity, details: {} }
    }
    const accel = await this.accel(options)
    return { driver: this.name, available: true, capacity, details: { accel: accel.accel, accelReason: accel.reason, qemu: version } }
  }

  async start (spec: DomainSpec, options: { signal?: AbortSignal } = {}): Promise<DomainHandle> {
    const name = this.#checkName(spec.name)
    if (this.#starting.has(name)) throw new DriverError(this.name, name, 'is already being started')
    this.#starting.add(name)
    try {
      return await this.#start(spec, name, options.signal)
    } finally {
      this.#starting.delete(name)
    }
  }

  async #start (spec: DomainSpec, name: string, signal: AbortSignal | undefined): Promise<DomainHandle> {
    const paths = this.paths(name)
    const previous = await readJson<DomainRecord>(paths.record)
    if (previous !== undefined && await isAlive(previous)) throw new DriverError(this.name, name, `is already running (pid ${previous.pid})`)
    if (Buffer.byteLength(paths.qmpSocket) > MAX_SOCKET_PATH) {
      throw new DriverError(this.name, name, `QMP socket path ${paths.qmpSocket} is longer than ${MAX_SOCKET_PATH} bytes; use a shorter --state-dir`)
    }
    const { file, args: argv, accel } = await this.launchCommand(spec, paths, { signal })
    await mkdir(this.#dir, { recursive: true })
    await removeRuntimeFiles(paths)
    await rm(paths.serialLog, { force: true })

    const execa = await loadExeca()
    const out = openSync(paths.stderrLog, 'w', 0o600)
    // qemu writes straight into the log file (an fd, not a pipe through the daemon) so it survives a daemon exit.
    // execa's types only take literal fd numbers, hence the cast.
    const fd = out as 1
    let child
    try {
      child = execa(file, argv, { detached: true, cleanup: false, reject: false, stdin: 'ignore', stdout: fd, stderr: fd, cwd: this.#dir })
    } finally {
      closeSync(out)
    }
    child.unref()
    const pid = child.pid
    const id = pid === undefined ? undefined : await identify(pid)
    if (id === undefined) {
      const r = await child
      const why = r.exitCode === undefined && r.signal === undefined
        ? `${file}: ${r.originalMessage ?? 'could not be run'}`
        : await this.#deathReason(paths, { pid: pid ?? 0, startTime: '', ...exitOf(r) })
      throw new DriverError(this.name, name, `qemu did not start: ${why}`)
    }
    const exit: Promise<ExitRecord> = child.then(r => ({ pid: id.pid, startTime: id.startTime, ...exitOf(r) }))
    // Saved for a later daemon; tagged with the process identity so it is never taken for another incarnation's.
    const saved = exit.then(r => writeJsonAtomic(paths.exitFile, r)).catch(() => {})
    this.#exits.set(name, { id, exit, saved })
    const record: DomainRecord = { name, pid: id.pid, startTime: id.startTime, accel, startedAt: new Date(this.#clock.now()).toISOString() }
    await writeJsonAtomic(paths.record, record)
    const handle: DomainHandle = {
      driver: this.name,
      name,
      data: { pid: id.pid, startTime: id.startTime, accel, qmpSocket: paths.qmpSocket, serialLog: paths.serialLog } satisfies HandleData
    }

    const deadline = this.#clock.now() + (this.#options.startTimeoutMs ?? 15_000)
    let last = 'no answer on QMP yet'
    while (this.#clock.now() < deadline) {
      if (!(await isAlive(id))) {
        const reason = await this.#deathReason(paths, await exit)
        await saved
        await removeRuntimeFiles(paths)
        throw new DriverError(this.name, name, `qemu failed to start: ${reason}`)
      }
      try {
        const status = await this.#qmp(paths.qmpSocket, 'query-status', { signal }) as { status?: string }
        if (status.status === 'running') return handle
        last = `QMP status ${status.status}`
      } catch (err) {
        if (signal?.aborted) break
        last = (err as Error).message
      }
      await this.#clock.sleep(POLL_MS, { signal }).catch(() => {})
    }
    await this.destroy(handle)
    throw new DriverError(this.name, name, signal?.aborted ? 'start aborted' : `not running after ${this.#options.startTimeoutMs ?? 15_000} ms (${last})`)
  }

  /** The program and arguments start() runs for `spec` (the benchmark starts the same by hand). */
  async launchCommand (spec: DomainSpec, paths: { qmpSocket: string, serialLog: string } = this.paths(spec.name),
    options: { signal?: AbortSignal } = {}): Promise<{ file: string, args: string[], accel: Accel }> {
    const domOptions = domainOptions(spec)
    const accel = domOptions.accel ?? (await this.accel(options)).accel
    const args = qemuArgs(spec, paths, accel, spec.kernel === undefined ? undefined : await this.#firmware())
    // `ip netns exec` execs qemu in place: the pid (and start time) the driver records is qemu's own.
    return domOptions.netns === undefined
      ? { file: this.#binary, args, accel }
      : { file: 'ip', args: ['netns', 'exec', domOptions.netns, this.#binary, ...args], accel }
  }

  async #firmware (): Promise<string | undefined> {
    const choice = this.#options.firmware ?? 'qboot'
    if (choice === 'seabios') return undefined
    if (choice !== 'qboot') return choice
    return await access(QBOOT).then(() => QBOOT, () => undefined)
  }

  async status (handle: DomainHandle, options: { signal?: AbortSignal } = {}): Promise<DomainStatus> {
    const { name, id, paths } = this.#fromHandle(handle)
    const record = await readJson<DomainRecord>(paths.record)
    if (await isAlive(id)) {
      let status: string | undefined
      try {
        status = (await this.#qmp(paths.qmpSocket, 'query-status', { signal: options.signal, retryMs: 1_000 }) as { status?: string }).status
      } catch (err) {
        if (!(await isAlive(id))) return this.status(handle, options)
        return { state: 'starting', reason: `qemu runs but QMP does not answer: ${(err as Error).message}` }
      }
      const state = qmpState(status)
      if (record?.stopRequested === true && (state === 'running' || state === 'paused')) return { state: 'shutting-down' }
      if (state === 'stopped') return { state, reason: 'the guest powered off' }
      if (state === 'crashed') {
        const what = status === 'guest-panicked' ? 'the guest kernel panicked' : 'the guest stopped'
        const panic = await lastMatch(paths.serialLog, /Kernel panic|BUG:|Oops/)
        const serial = await tail(paths.serialLog, 3)
        return { state, reason: `${what} (QMP status ${status})${panic !== undefined ? `: ${panic.trim()}` : ''}${serial.length > 0 ? `; serial log tail: ${serial.join(' | ')}` : ''}` }
      }
      return { state }
    }
    if (record === undefined || record.pid !== id.pid || record.startTime !== id.startTime) return { state: 'missing' }
    if (record.stopRequested === true) return { state: 'stopped', reason: 'stopped by the driver' }
    const exit = await this.#exitOf(name, id, paths)
    return { state: 'crashed', reason: await this.#deathReason(paths, exit, id.pid) }
  }

  async shutdown (handle: DomainHandle, timeoutMs: number, options: { signal?: AbortSignal } = {}): Promise<void> {
    const { name, id, paths } = this.#fromHandle(handle)
    if (await isAlive(id)) {
      await this.#markStopping(paths, id)
      const deadline = this.#clock.now() + timeoutMs
      const qmp = (cmd: string): Promise<unknown> => this.#qmp(paths.qmpSocket, cmd, { signal: options.signal, retryMs: 500 })
      const powered = async (): Promise<boolean> => ((await qmp('query-status').catch(() => ({}))) as { status?: string }).status === 'shutdown'
      // The button is pressed again every second: a press during early boot, before the guest listens, is lost.
      let nextPress = this.#clock.now()
      while (this.#clock.now() < deadline && await isAlive(id) && !(await powered())) {
        if (this.#clock.now() >= nextPress) {
          await qmp('system_powerdown').catch(() => {})
          nextPress = this.#clock.now() + REPRESS_MS
        }
        await this.#clock.sleep(Math.min(100, Math.max(1, deadline - this.#clock.now())), options).catch(() => {})
        if (options.signal?.aborted) break
      }
      await this.#stop(id, paths)
    }
    await this.#forget(name, id, paths)
  }

  async destroy (handle: DomainHandle, _options: { signal?: AbortSignal } = {}): Promise<void> {
    const { name, id, paths } = this.#fromHandle(handle)
    if (await isAlive(id)) {
      await this.#markStopping(paths, id)
      await this.#stop(id, paths)
    }
    await this.#forget(name, id, paths)
  }

  async list (_options: { signal?: AbortSignal } = {}): Promise<string[]> {
    let entries: string[]
    try {
      entries = await readdir(this.#dir)
    } catch {
      return []
    }
    const names: string[] = []
    for (const entry of entries) {
      if (!entry.endsWith('.json') || entry.endsWith('.exit.json')) continue
      const record = await readJson<DomainRecord>(join(this.#dir, entry))
      if (record !== undefined && `${record.name}.json` === entry && await isAlive(record)) names.push(record.name)
    }
    return names.sort()
  }

  async recover (handle: DomainHandle, options: { signal?: AbortSignal } = {}): Promise<DomainStatus> {
    const { name, id, paths } = this.#fromHandle(handle)
    const record = await readJson<DomainRecord>(paths.record)
    if (record === undefined && await isAlive(id)) {
      // The record was lost (state dir restored from an older copy): the handle is enough to rebuild it.
      const data = handle.data as unknown as HandleData
      await mkdir(this.#dir, { recursive: true })
      await writeJsonAtomic(paths.record, { name, pid: id.pid, startTime: id.startTime, accel: String(data.accel), startedAt: new Date(this.#clock.now()).toISOString() } satisfies DomainRecord)
    }
    return this.status(handle, options)
  }

  /**
   * One QMP command, queued behind this instance's other sessions on the same socket, and retried briefly when the
   * socket is busy with someone else's session (another daemon, an operator's socat) or not yet listening.
   */
  async #qmp (socket: string, command: string, options: { timeoutMs?: number, signal?: AbortSignal, retryMs?: number } = {}): Promise<unknown> {
    const run = async (): Promise<unknown> => {
      const deadline = this.#clock.now() + (options.retryMs ?? 0)
      for (;;) {
        try {
          return await qmpCommand(socket, command, undefined, { timeoutMs: options.timeoutMs ?? 2_000, signal: options.signal })
        } catch (err) {
          if (options.signal?.aborted || this.#clock.now() >= deadline || (err as QmpError).errorClass !== undefined) throw err
          await this.#clock.sleep(POLL_MS)
        }
      }
    }
    const turn = (this.#qmpTails.get(socket) ?? Promise.resolve()).then(run, run)
    const tail = turn.catch(() => {})
    this.#qmpTails.set(socket, tail)
    void tail.then(() => { if (this.#qmpTails.get(socket) === tail) this.#qmpTails.delete(socket) })
    return await turn
  }

  /** quit (qemu closes its images cleanly), then SIGKILL to the process group; waits until it is gone. */
  async #stop (id: ProcessIdentity, paths: DomainPaths): Promise<void> {
    await this.#qmp(paths.qmpSocket, 'quit', { timeoutMs: 1_000 }).catch(() => {})
    if (await this.#waitGone(id, 2_000)) return
    await signalGroup(id, 'SIGKILL')
    if (!(await this.#waitGone(id, 5_000))) throw new DriverError(this.name, undefined, `qemu pid ${id.pid} survives SIGKILL`)
  }

  async #waitGone (id: ProcessIdentity, ms: number): Promise<boolean> {
    const deadline = this.#clock.now() + ms
    while (await isAlive(id)) {
      if (this.#clock.now() >= deadline) return false
      await this.#clock.sleep(20)
    }
    return true
  }

  async #markStopping (paths: DomainPaths, id: ProcessIdentity): Promise<void> {
    const record = await readJson<DomainRecord>(paths.record)
    if (record === undefined || record.stopRequested === true) return
    if (record.pid !== id.pid || record.startTime !== id.startTime) return
    await writeJsonAtomic(paths.record, { ...record, stopRequested: true })
  }

  async #exitOf (name: string, id: ProcessIdentity, paths: DomainPaths): Promise<ExitRecord | undefined> {
    const mine = this.#exits.get(name)
    if (mine !== undefined && sameProcess(mine.id, id)) {
      // Reported only once it is on disk too, so a daemon that recovers right after reads the same cause.
      const exit = await mine.exit
      await Promise.race([mine.saved, this.#clock.sleep(1_000)])
      return exit
    }
    const saved = await readJson<ExitRecord>(paths.exitFile)
    return saved !== undefined && sameProcess(saved, id) ? saved : undefined
  }

  /** Removes the record, socket and exit file once the exit status of a child of this instance is on disk. */
  async #forget (name: string, id: ProcessIdentity, paths: DomainPaths): Promise<void> {
    const mine = this.#exits.get(name)
    if (mine !== undefined && sameProcess(mine.id, id)) {
      await Promise.race([mine.saved, this.#clock.sleep(1_000)])
      this.#exits.delete(name)
    }
    await removeRuntimeFiles(paths)
  }

  async #deathReason (paths: DomainPaths, exit: ExitRecord | undefined, pid?: number): Promise<string> {
    const who = pid === undefined ? 'qemu' : `qemu (pid ${pid})`
    const parts = [exit === undefined
      ? `${who} is gone (exit status unknown: it was started by an earlier daemon)`
      : exit.signal !== undefined ? `${who} was killed by ${exit.signal}` : `${who} exited with code ${exit.exitCode ?? 'unknown'}`]
    const err = await tail(paths.stderrLog, 3)
    if (err.length > 0) parts.push(`qemu said: ${err.join(' | ')}`)
    const serial = await tail(paths.serialLog, 5)
    if (serial.length > 0) parts.push(`serial log tail: ${serial.join(' | ')}`)
    return parts.join('; ')
  }

  #checkName (name: string): string {
    if (typeof name !== 'string' || !NAME.test(name)) throw new DriverError(this.name, undefined, `invalid domain name ${JSON.stringify(name)}`)
    return name
  }

  #fromHandle (handle: DomainHandle): { name: string, id: ProcessIdentity, paths: DomainPaths } {
    if (handle.driver !== this.name) throw new DriverError(this.name, handle.name, `handle belongs to driver ${handle.driver}`)
    const name = this.#checkName(handle.name)
    const data = handle.data as Partial<HandleData>
    if (typeof data.pid !== 'number' || typeof data.startTime !== 'string') throw new DriverError(this.name, name, 'handle has no pid/startTime')
    // Paths are recomputed from the name, never taken from the handle: a handle cannot point the driver elsewhere.
    return { name, id: { pid: data.pid, startTime: data.startTime }, paths: this.paths(name) }
  }
}

function qmpState (status: string | undefined): DomainState {
  switch (status) {
    case 'running': return 'running'
    case 'shutdown': return 'stopped'
    case 'guest-panicked':
    case 'internal-error':
    case 'io-error': return 'crashed'
    case 'prelaunch':
    case 'inmigrate': return 'starting'
    default: return 'paused'
  }
}

const sameProcess = (a: { pid?: number, startTime?: string }, b: ProcessIdentity): boolean => a.pid === b.pid && a.startTime === b.startTime

function exitOf (r: { exitCode?: number, signal?: string }): { exitCode?: number, signal?: string } {
  return { ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}), ...(r.signal !== undefined ? { signal: r.signal } : {}) }
}
