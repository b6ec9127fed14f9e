import { loadExeca } from './lazy-execa.ts'
import { ShellCommandError } from './shell.ts'
import type { Shell, ShellCommand, ShellResult } from './shell.ts'

// The daemon's Shell: execa with argument arrays (shell: false, so no /bin/sh ever parses a value), one command at a
// time per instance (a component's commands must not interleave: mkfs before fill before start), a timeout per
// command, and a transcript of every command and its output in the owner's log.

export interface ExecaShellOptions {
  /** Receives the transcript, one line per call: `$ argv`, `| stdout`, `! stderr`, `= exit`. */
  log?: (line: string) => void
  /** Used when a command gives no timeoutMs. Default 60 s (the seam's documented default). */
  defaultTimeoutMs?: number
  /** Between SIGTERM and SIGKILL when a command times out or is aborted. Default 2 s. */
  killGraceMs?: number
  /** Added to every command's environment (a command's own env wins). */
  env?: Record<string, string>
}

/** Bytes of stderr kept in a ShellCommandError: enough for the tool's complaint, not a whole mkfs transcript. */
const STDERR_TAIL = 4096
/** A runaway command must not fill the daemon's memory; output beyond this is dropped by execa. */
const MAX_BUFFER = 16 * 1024 * 1024

export class ExecaShell implements Shell {
  readonly #log: (line: string) => void
  readonly #defaultTimeoutMs: number
  readonly #killGraceMs: number
  readonly #env: Record<string, string>
  /** Settles when the last queued command has finished; commands chain onto it (FIFO). */
  #tail: Promise<unknown> = Promise.resolve()

  constructor (options: ExecaShellOptions = {}) {
    this.#log = options.log ?? (() => {})
    this.#defaultTimeoutMs = options.defaultTimeoutMs ?? 60_000
    this.#killGraceMs = options.killGraceMs ?? 2_000
    this.#env = options.env ?? {}
  }

  run (cmd: ShellCommand): Promise<ShellResult> {
    const argv = [cmd.file, ...(Array.isArray(cmd.args) ? cmd.args : [])]
    // Checked here, not only at spawn, so a caller's bad argument fails before it waits behind a long mkfs.
    if (typeof cmd.file !== 'string' || cmd.file === '' || !Array.isArray(cmd.args) || !cmd.args.every(a => typeof a === 'string')) {
      return Promise.reject(new ShellCommandError(argv.map(String), undefined, '', 'program and arguments must be non-empty strings'))
    }
    const turn = this.#tail.then(() => this.#exec(cmd, argv))
    this.#tail = turn.catch(() => {})
    return abortable(turn, cmd.signal, argv)
  }

  async #exec (cmd: ShellCommand, argv: readonly string[]): Promise<ShellResult> {
    if (cmd.signal?.aborted) throw new ShellCommandError(argv, undefined, '', 'aborted before it started')
    const timeoutMs = cmd.timeoutMs ?? this.#defaultTimeoutMs
    this.#log(`$ ${formatArgv(argv)}${cmd.input !== undefined ? ` <(${byteLength(cmd.input)} bytes)` : ''}`)
    const started = performance.now()
    const execa = await loadExeca()
    const result = await execa(cmd.file, [...cmd.args], {
      shell: false,
      reject: false,
      ...(cmd.input === undefined ? { stdin: 'ignore' as const } : { input: cmd.input }),
      cwd: cmd.cwd,
      env: { ...this.#env, ...cmd.env },
      extendEnv: true,
      timeout: timeoutMs > 0 ? timeoutMs : undefined,
      cancelSignal: cmd.signal,
      forceKillAfterDelay: this.#killGraceMs,
      maxBuffer: MAX_BUFFER,
      stripFinalNewline: false,
      encoding: 'utf8',
      windowsHide: true
    })
    const durationMs = performance.now() - started
    const stdout = String(result.stdout ?? '')
    const stderr = String(result.stderr ?? '')
    for (const line of lines(stdout)) this.#log(`| ${line}`)
    for (const line of lines(stderr)) this.#log(`! ${line}`)
    const tail = stderr.length > STDERR_TAIL ? stderr.slice(-STDERR_TAIL) : stderr
    if (result.timedOut) {
      this.#log(`= timed out after ${timeoutMs} ms`)
      throw new ShellCommandError(argv, undefined, tail, `timed out after ${timeoutMs} ms${result.isForcefullyTerminated ? ' (SIGKILL)' : ''}`)
    }
    if (result.isCanceled) {
      this.#log('= aborted')
      throw new ShellCommandError(argv, undefined, tail, 'aborted')
    }
    if (result.exitCode === undefined) {
      // Spawn failures (ENOENT, EACCES) and deaths by signal land here.
      const reason = result.signal !== undefined ? `killed by ${result.signal}` : (result.originalMessage || 'could not be started')
      this.#log(`= ${reason}`)
      throw new ShellCommandError(argv, undefined, tail, reason)
    }
    this.#log(`= exit ${result.exitCode} (${Math.round(durationMs)} ms)`)
    if (result.exitCode !== 0) throw new ShellCommandError(argv, result.exitCode, tail, `exit code ${result.exitCode}`)
    return { exitCode: 0, stdout, stderr, durationMs }
  }
}

/** Rejects as soon as the signal fires, even while the command still waits in the queue; the queue skips it then. */
function abortable (p: Promise<ShellResult>, signal: AbortSignal | undefined, argv: readonly string[]): Promise<ShellResult> {
  if (signal === undefined) return p
  return new Promise((resolve, reject) => {
    const onAbort = (): void => { reject(new ShellCommandError(argv, undefined, '', 'aborted')) }
    if (signal.aborted) onAbort()
    else signal.addEventListener('abort', onAbort, { once: true })
    p.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
  })
}

function lines (text: string): string[] {
  if (text === '') return []
  const out = text.split('\n')
  if (out[out.length - 1] === '') out.pop()
  return out
}

function byteLength (input: string | Uint8Array): number {
  return typeof input === 'string' ? Buffer.byteLength(input) : input.byteLength
}

/** For the log only (never executed): quotes what a reader could misread, so hostile values stay visibly one argument. */
export function formatArgv (argv: readonly string[]): string {
  return argv.map(a => /^[A-Za-z0-9_./=:,@%+-]+$/.test(a) ? a : JSON.stringify(a)).join(' ')
}
