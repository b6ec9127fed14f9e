import { parseArgs } from 'node:util'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { API_OPTION, apiPath, withClient } from './api.ts'
import { printable } from './status-format.ts'
import type { ResultOf } from '../../node/api/messages.ts'

// `sdpeer hosts forget NAME [--peer ID]` (usage in cli/commands/hosts.ts): one signed control-API request; the
// daemon spreads it to the mesh and answers what every member did.

export async function runForget (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { peer: { type: 'string' }, json: { type: 'boolean', default: false }, ...API_OPTION },
    allowPositionals: true,
    strict: true
  })
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'hosts forget: which host name?' : `unexpected argument ${JSON.stringify(positionals[1])}`)
  const host = positionals[0]!
  const path = apiPath(values.api, io)
  return await withClient('hosts forget', path, io, async client => {
    const r = await client.call('forget', { host, ...(values.peer !== undefined ? { peer: values.peer } : {}) })
    if (values.json) io.stdout.write(JSON.stringify(r) + '\n')
    else io.stdout.write(describe(r))
    return r.members.every(m => m.outcome === 'done') ? 0 : 1
  })
}

function describe (r: ResultOf['forget']): string {
  const lines: string[] = []
  const name = printable(r.host)
  for (const f of r.forgotten) lines.push(`forgot host ${name} of peer ${f.peerId} (epoch ${f.epoch}, seq ${f.seq}): refused until it restarts`)
  for (const k of r.kept) lines.push(`kept peer ${k.peerId} (${k.reason === 'self' ? 'this daemon' : k.reason})`)
  const done = r.members.filter(m => m.outcome === 'done')
  lines.push(`${done.length} of ${r.members.length} other member${r.members.length === 1 ? '' : 's'} applied it`)
  for (const m of r.members) if (m.outcome !== 'done') lines.push(`  ${m.outcome}: ${m.peerId}: ${printable(m.message ?? '')}`)
  return lines.join('\n') + '\n'
}
