// The one way sdpeer runs a host command. Implementations take the program and its arguments as an array and never
// build a shell string: no value from a description or a peer can reach /bin/sh.

export interface ShellCommand {
  /** Program name (looked up on PATH) or absolute path. Never a shell snippet. */
  file: string
  args: readonly string[]
  /** Bytes written to the command's standard input. */
  input?: string | Uint8Array
  cwd?: string
  env?: Record<string, string>
  /** Milliseconds; the command is killed (SIGTERM, then SIGKILL) when it runs longer. Default 60 s. */
  timeoutMs?: number
  signal?: AbortSignal
}

export interface ShellResult {
  exitCode: number
  stdout: string
  stderr: string
  durationMs: number
}

export interface Shell {
  /**
   * Runs the command, queued behind the commands already given to this shell. Resolves with the result when it
   * exits 0; rejects with a ShellCommandError (exit code, stderr tail, the argv) otherwise, on timeout or abort.
   */
  run (cmd: ShellCommand): Promise<ShellResult>
}

export class ShellCommandError extends Error {
  override readonly name = 'ShellCommandError'
  readonly argv: readonly string[]
  readonly exitCode: number | undefined
  readonly stderr: string
  constructor (argv: readonly string[], exitCode: number | undefined, stderr: string, reason: string) {
    super(`${argv.map(a => JSON.stringify(a)).join(' ')}: ${reason}${stderr ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`)
    this.argv = argv
    this.exitCode = exitCode
    this.stderr = stderr
  }
}
