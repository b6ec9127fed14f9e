// The contract of one `sdpeer` sub-command: cli/commands/<name>.ts exports these. main.ts finds commands by file
// name, so adding a command never touches a shared registry.

export interface CliIO {
  stdout: NodeJS.WritableStream & { isTTY?: boolean }
  stderr: NodeJS.WritableStream & { isTTY?: boolean }
  env: NodeJS.ProcessEnv
  cwd: string
}

export interface CommandModule {
  /** One line for `sdpeer --help`. */
  summary: string
  /** Full usage text for `sdpeer CMD --help`; starts with the synopsis line. */
  usage: string
  /** Returns the process exit status: 0 success, 1 failure of the operation, 2 usage or missing file. */
  run (argv: string[], io: CliIO): Promise<number>
}

/** Thrown for wrong command-line usage: main prints the message and the usage and exits 2. */
export class UsageError extends Error {
  override readonly name = 'UsageError'
}
