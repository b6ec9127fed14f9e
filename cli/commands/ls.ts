import { parseArgs } from 'node:util'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { API_OPTION, API_USAGE, apiPath, withClient } from '../lib/api.ts'
import { printable, table } from '../lib/status-format.ts'

export const summary = 'list every pool of the mesh with its entry peer, state and hosts'
export const usage = `sdpeer ls [--json] [--api PATH]

Every pool of the mesh, from this daemon's replica of the pool registry (kept by every peer), and the pools this
host runs on its own (deployed here without placing anything on another host: SCOPE local).

  ENTRY      the host (peer) that took the deploy and ran its two phases
  STATE      preparing, committing, running, terminating, terminated or failed (mesh pools); a component state
             for local ones
  HOSTS      the hosts holding the pool's parts

  --json     [{"pool", "state", "entry", "entryHost"?, "hosts", "parts", "scope", "reason"?}]
${API_USAGE}`

export async function run (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { json: { type: 'boolean', default: false }, ...API_OPTION },
    allowPositionals: true,
    strict: true
  })
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`)
  const path = apiPath(values.api, io)
  return await withClient('ls', path, io, async client => {
    const pools = await client.call('ls', {})
    if (values.json) {
      io.stdout.write(JSON.stringify(pools) + '\n')
      return 0
    }
    if (pools.length === 0) { io.stdout.write('no pools\n'); return 0 }
    const rows = [['POOL', 'STATE', 'ENTRY', 'SCOPE', 'HOSTS', 'REASON']]
    for (const p of pools) {
      rows.push([printable(p.pool), p.state, printable(p.entryHost ?? p.entry), p.scope, p.hosts.map(printable).join(','), printable((p.reason ?? '').slice(0, 120))])
    }
    io.stdout.write(table(rows))
    return 0
  })
}
