import { parseArgs } from 'node:util'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { API_OPTION, API_USAGE, apiPath, withClient } from '../lib/api.ts'
import { printable } from '../lib/status-format.ts'
import { checkPoolName } from '../../node/api/messages.ts'
import type { StreamItem } from '../../node/api/messages.ts'
import type { EngineEvent } from '../../node/engine/types.ts'

export const summary = 'show lifecycle events: the current states, then (--follow) events as they happen'
export const usage = `sdpeer events [POOL] [--follow] [--json] [--api PATH]

Prints one line per component with its current state (of POOL, or of every pool), then with --follow every
lifecycle event as it happens (state changes, attribute changes, command output) until Ctrl-C.

  --follow       keep printing events as they happen
  --json         one JSON object per line: {"time", "host", "pool", "path", "kind", "state"?, "message"}
${API_USAGE}`

/** `12:00:01.123  host  pool:comp  running  message` */
export function eventText (e: EngineEvent): string {
  const time = new Date(e.time).toISOString().slice(11, 23)
  const where = `${e.pool}${e.path ? ':' + e.path : ''}`
  const what = e.kind === 'state' ? (e.state ?? 'state') : e.kind
  return `${time}  ${printable(e.host)}  ${printable(where)}  ${what}${e.message && e.message !== what ? '  ' + printable(e.message) : ''}`
}

export async function run (argv: string[], io: CliIO): Promise<number> {
  const controller = new AbortController()
  const stop = (): void => { controller.abort() }
  process.once('SIGINT', stop)
  process.once('SIGTERM', stop)
  try {
    return await runEvents(argv, io, controller.signal)
  } finally {
    process.off('SIGINT', stop)
    process.off('SIGTERM', stop)
  }
}

/** The command with an explicit stop signal (tests stop a --follow with it; `run` ties it to SIGINT/SIGTERM). */
export async function runEvents (argv: string[], io: CliIO, signal: AbortSignal): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { follow: { type: 'boolean', short: 'f', default: false }, json: { type: 'boolean', default: false }, ...API_OPTION },
    allowPositionals: true,
    strict: true
  })
  if (positionals.length > 1) throw new UsageError('expected at most one POOL')
  const pool = positionals[0]
  if (pool !== undefined) {
    try { checkPoolName(pool, 'POOL') } catch (err) { throw new UsageError((err as Error).message) }
  }
  const write = (e: EngineEvent): void => { io.stdout.write((values.json ? JSON.stringify(e) : eventText(e)) + '\n') }
  const path = apiPath(values.api, io)
  return await withClient('events', path, io, async client => {
    // Subscribe first, then take the snapshot: requests are handled in order, so no event falls between the two;
    // events that arrive before the snapshot is printed wait in `early`.
    let early: EngineEvent[] | undefined = []
    const onItem = (item: StreamItem): void => {
      if (item.kind !== 'event') return
      if (early) early.push(item.event)
      else write(item.event)
    }
    const stream = values.follow
      ? client.call('events', pool === undefined ? {} : { pool }, { onItem, signal })
      : undefined
    const pools = await client.call('status', pool === undefined ? {} : { pool })
    const now = Date.now()
    for (const p of pools) {
      for (const c of p.components) {
        const e: EngineEvent = { time: now, host: c.host, pool: p.pool, path: c.path, kind: 'state', state: c.state, message: c.reason ?? '' }
        write(e)
      }
    }
    const waiting = early
    early = undefined
    for (const e of waiting) write(e)
    if (stream) await stream
    return 0
  })
}
