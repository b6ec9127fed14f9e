import { resolve } from 'node:path'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { ApiClient, ApiConnectionError, ApiRemoteError, DaemonNotRunningError } from '../../node/api/client.ts'

// How every client command finds and talks to the daemon: `--api PATH`, else `SDPEER_API`. There is no default path
// on purpose: a daemon's socket lives in its state dir, and guessing one could talk to the wrong daemon.

export const API_OPTION = { api: { type: 'string' } } as const

export const API_USAGE = `  --api PATH     the daemon's control socket (default: $SDPEER_API; \`sdpeer join\` listens on STATE_DIR/api.sock)`

export function apiPath (given: string | undefined, io: CliIO): string {
  const path = given ?? io.env.SDPEER_API
  if (path === undefined || path === '') {
    throw new UsageError('which daemon? pass --api PATH or set SDPEER_API to the socket of a running `sdpeer join` (STATE_DIR/api.sock)')
  }
  return resolve(io.cwd, path)
}

/**
 * Connects, runs `fn`, closes. Daemon-side and connection errors become one line on stderr and exit status 1, so every
 * command reports them alike (`sdpeer status: no sdpeer daemon at ...`).
 */
export async function withClient (command: string, path: string, io: CliIO, fn: (client: ApiClient) => Promise<number>): Promise<number> {
  let client: ApiClient | undefined
  try {
    client = await ApiClient.connect(path)
    return await fn(client)
  } catch (err) {
    if (err instanceof DaemonNotRunningError || err instanceof ApiRemoteError || err instanceof ApiConnectionError) {
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
