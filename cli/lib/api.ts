import { access } from 'node:fs/promises'
import { resolve } from 'node:path'
import type { KeyObject } from 'node:crypto'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { ApiClient, ApiConnectionError, ApiRemoteError, DaemonNotRunningError } from '../../node/api/client.ts'
import { defaultOperatorKeyPath, loadOperatorKey, OperatorKeyError } from '../../node/security/operator-key.ts'

// How every client command finds and talks to the daemon: `--api PATH`, else `SDPEER_API`. There is no default path
// on purpose: a daemon's socket lives in its state dir, and guessing one could talk to the wrong daemon. Changing
// requests are signed with the operator's key (operatorKeyFor).

export const API_OPTION = { api: { type: 'string' } } as const

export const API_USAGE = `  --api PATH     the daemon's control socket (default: $SDPEER_API; \`sdpeer join\` listens on STATE_DIR/api.sock)
                 changes are signed with $SDPEER_OPERATOR_KEY, else ~/.config/sdpeer/operator.key when it exists`

export function apiPath (given: string | undefined, io: CliIO): string {
  const path = given ?? io.env.SDPEER_API
  if (path === undefined || path === '') {
    throw new UsageError('which daemon? pass --api PATH or set SDPEER_API to the socket of a running `sdpeer join` (STATE_DIR/api.sock)')
  }
  return resolve(io.cwd, path)
}

/**
 * The operator key the CLI signs with: `SDPEER_OPERATOR_KEY` (a file that must exist), else the user's default
 * (`$XDG_CONFIG_HOME/sdpeer/operator.key` or `~/.config/sdpeer/operator.key`) when it exists. Undefined: no key, the
 * requests go unsigned and the daemon decides. A key file others can read is refused (OperatorKeyError), like ssh.
 */
export async function operatorKeyFor (io: CliIO): Promise<KeyObject | undefined> {
  const given = io.env.SDPEER_OPERATOR_KEY
  if (given !== undefined && given !== '') return (await loadOperatorKey(resolve(io.cwd, given))).privateKey
  let file: string
  try { file = defaultOperatorKeyPath(io.env) } catch { return undefined }
  try { await access(file) } catch { return undefined }
  return (await loadOperatorKey(file)).privateKey
}

/**
 * Connects, runs `fn`, closes. Daemon-side and connection errors become one line on stderr and exit status 1, so every
 * command reports them alike (`sdpeer status: no sdpeer daemon at ...`).
 */
export async function withClient (command: string, path: string, io: CliIO, fn: (client: ApiClient) => Promise<number>): Promise<number> {
  let client: ApiClient | undefined
  try {
    const operatorKey = await operatorKeyFor(io)
    client = await ApiClient.connect(path, operatorKey !== undefined ? { operatorKey } : {})
    return await fn(client)
  } catch (err) {
    if (err instanceof DaemonNotRunningError || err instanceof ApiRemoteError || err instanceof ApiConnectionError || err instanceof OperatorKeyError) {
      io.stderr.write(`sdpeer ${command}: ${err.message}\n`)
      return 1
    }
    throw err
  } finally {
    client?.close()
  }
}

/** `POOL:comp:comp` -> pool and the component path below the root (`POOL` alone is the root, path ""). */
export function splitPoolPath (text: string): { pool: string, path: string } {
  const i = text.indexOf(':')
  const pool = i < 0 ? text : text.slice(0, i)
  const path = i < 0 ? '' : text.slice(i + 1)
  if (pool === '') throw new UsageError(`${JSON.stringify(text)}: expected POOL or POOL:component:component`)
  return { pool, path }
}
