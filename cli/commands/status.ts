import { parseArgs } from 'node:util'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { API_OPTION, API_USAGE, apiPath, withClient } from '../lib/api.ts'
import { poolJson, poolText, poolsText } from '../lib/status-format.ts'

export const summary = 'show the state of one pool or of all pools'
export const usage = `sdpeer status [POOL] [--local] [--json] [--api PATH]

Without POOL: one line per pool (this host's own pools, and every running pool of the mesh).
With POOL: every component of the pool with its path, type, host, state and, when it failed, the reason. A pool
deployed across the mesh is answered from any peer: each host holding a part reports its components, within one
request timeout. Besides the lifecycle's states a component may be \`lost\` (its host was declared dead by the mesh;
not asked), \`re-placing\` (the pool's coordinator is starting it on another host) or \`failed\` with the reason the
pool record gives (a pinned VM whose host died). Hosts that did not answer in time are named.

  --local        only what this host's engine runs: each part of a mesh pool under its own engine pool name
                 (the root part under POOL, the part at computer1 under POOL--computer1)
  --json         one pool:  {"pool", "state", "components": [{"path", "type", "host", "state", "reason"?}],
                 "unreachable"?: [peer ids not listed or dead], "dead"?: [peer ids declared dead]}
                 all pools: an array of those. Component paths are ":"-separated from the root ("" is the root).
${API_USAGE}

Exit status 1 when POOL is unknown or the daemon cannot be reached.`

export async function run (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { json: { type: 'boolean', default: false }, local: { type: 'boolean', default: false }, ...API_OPTION },
    allowPositionals: true,
    strict: true
  })
  if (positionals.length > 1) throw new UsageError('expected at most one POOL')
  const pool = positionals[0]
  const path = apiPath(values.api, io)
  return await withClient('status', path, io, async client => {
    const local = values.local ? { local: true } : {}
    const pools = await client.call('status', pool === undefined ? local : { pool, ...local })
    if (pool !== undefined) {
      const one = pools.find(p => p.pool === pool)
      if (!one) { io.stderr.write(`sdpeer status: no pool ${JSON.stringify(pool)}\n`); return 1 }
      io.stdout.write(values.json ? JSON.stringify(poolJson(one)) + '\n' : poolText(one))
      // A mesh pool whose owners did not all answer: their components are missing above, so say which.
      // A dead owner's parts are listed (lost); only the silent ones are missing from the table.
      const { unreachable, dead } = one as { unreachable?: unknown, dead?: unknown }
      const gone = new Set(Array.isArray(dead) ? dead : [])
      const silent = Array.isArray(unreachable) ? unreachable.filter(p => !gone.has(p)) : []
      if (!values.json && silent.length > 0) io.stdout.write(`not answering (their components are not listed): ${silent.join(', ')}\n`)
      return 0
    }
    io.stdout.write(values.json ? JSON.stringify(pools.map(poolJson)) + '\n' : poolsText(pools))
    return 0
  })
}
