import { readFile } from 'node:fs/promises'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { API_OPTION, apiPath, withClient } from '../lib/api.ts'
import { ApiRemoteError } from '../../node/api/client.ts'
import type { ComponentStatus } from '../../node/engine/types.ts'
import { QuerySyntaxError } from '../../node/scheduler/errors.ts'
import { compileQuery } from '../../node/scheduler/query.ts'
import { vmRecords } from '../../node/scheduler/vm-records.ts'
import type { VmQueryRecord as VmRecord } from '../../node/scheduler/vm-records.ts'
import { isComponent } from '../../node/sf/sfjson.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'

export const summary = 'list the VMs whose attributes match a query (VMShop\'s attribute queries), with host and state'
export const usage = `sdpeer query EXPR [--api PATH | --status-file F] [--json]

EXPR compares a VM's attributes: its description's values (memory, vcpus, hostname, ip, kernel...) and
pool, path, name, host, state. Operators: == != < <= > >= ~ (glob: * and ?) !~, && || ! and parentheses;
strings in double quotes. Examples:
  sdpeer query 'memory >= 1024 && hostname ~ "worker-*"'
  sdpeer query 'state != "running" || host == "machine9"'

What it reads (by default the daemon at $SDPEER_API, which answers for the whole mesh):
  --status-file F  a JSON file: an array of pools [{"pool", "config": <resolved sfConfig>, "components"?:
                   <the pool's status components>}], or an array of VM records [{"pool", "path", "host",
                   "state", "memory", ...}]. Nothing is contacted.
  --api PATH       ask the daemon at PATH (default $SDPEER_API): it answers for every pool it can see, the
                   mesh's and its own, asking each VM's host for its attributes.

  --json           an array of the matching records

Exit status: 0 the query ran (even with no match); 1 the query does not parse (the column is shown), the file
is malformed or the daemon cannot answer; 2 usage error or file not found.`

export async function run (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { json: { type: 'boolean', default: false }, 'status-file': { type: 'string' }, ...API_OPTION }
  })
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing EXPR' : 'one EXPR (quote it)')
  const expr = positionals[0] as string
  const statusFile = values['status-file']
  if (statusFile !== undefined && values.api !== undefined) throw new UsageError('--status-file and --api exclude each other')
  let match: (r: VmRecord) => boolean
  try {
    match = compileQuery(expr) as (r: VmRecord) => boolean
  } catch (e) {
    if (!(e instanceof QuerySyntaxError)) throw e
    io.stderr.write(`sdpeer query: ${e.message}\n`)
    return 1
  }

  let records: VmRecord[]
  if (statusFile !== undefined) {
    let text: string
    try { text = await readFile(resolve(io.cwd, statusFile), 'utf8') } catch (e) {
      io.stderr.write(`sdpeer query: cannot read ${statusFile}: ${(e as Error).message}\n`)
      return 2
    }
    try {
      records = recordsOf(JSON.parse(text))
    } catch (e) {
      io.stderr.write(`sdpeer query: ${statusFile}: ${(e as Error).message}\n`)
      return 1
    }
  } else {
    const path = apiPath(values.api, io)
    let got: VmRecord[] | undefined
    const status = await withClient('query', path, io, async client => {
      try {
        got = recordsOf((await client.call('query', { expr })).vms)
        return 0
      } catch (e) {
        if (e instanceof ApiRemoteError && e.remoteName === 'ApiRequestError') {
          io.stderr.write(`sdpeer query: ${e.message}\n`)
          return 1
        }
        throw e
      }
    })
    if (got === undefined) return status
    records = got
  }

  const hits = records.filter(r => match(r))
  if (values.json) {
    io.stdout.write(JSON.stringify(hits) + '\n')
    return 0
  }
  if (hits.length === 0) { io.stderr.write(`no VM matches (${records.length} examined)\n`); return 0 }
  const rows = hits.map(r => [`${r.pool}:${r.path}`, String(r.hostname ?? ''), String(r.memory ?? ''), r.host, r.state])
  const head = ['VM', 'HOSTNAME', 'MEMORY', 'HOST', 'STATE']
  const width = head.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)))
  for (const line of [head, ...rows]) io.stdout.write(line.map((c, i) => i === line.length - 1 ? c : c.padEnd(width[i])).join('  ') + '\n')
  return 0
}

/** Pools with their config (and status), or records already flat. Throws a plain Error saying what is wrong. */
function recordsOf (json: unknown): VmRecord[] {
  if (!Array.isArray(json)) throw new Error('expected an array of pools or of VM records')
  const out: VmRecord[] = []
  json.forEach((item, i) => {
    if (typeof item !== 'object' || item === null || Array.isArray(item)) throw new Error(`[${i}]: expected an object`)
    const o = item as Record<string, unknown>
    if (typeof o.pool !== 'string') throw new Error(`[${i}].pool: expected a string`)
    if (o.config !== undefined) {
      if (!isComponent(o.config as never)) throw new Error(`[${i}].config: expected a resolved sfConfig object`)
      const comps = Array.isArray(o.components) ? o.components as ComponentStatus[] : []
      out.push(...vmRecords(o.pool, o.config as SfJsonObject, comps))
      return
    }
    const rec: Record<string, string | number | boolean> = {}
    for (const [k, v] of Object.entries(o)) if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') rec[k] = v
    out.push({ ...rec, pool: o.pool, path: String(o.path ?? ''), host: String(o.host ?? ''), state: String(o.state ?? 'unknown') })
  })
  return out
}
