import { parseArgs } from 'node:util'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { API_OPTION, API_USAGE, apiPath, splitPoolPath, withClient } from '../lib/api.ts'
import { sfAttributes, sfValue } from '../lib/sf-value.ts'

export const summary = 'read an attribute (or all attributes) of a live component'
export const usage = `sdpeer get POOL[:COMPONENT...] [ATTR] [--json] [--api PATH]

Reads ATTR of the live component at POOL:comp:comp (POOL alone is the pool's root), or all its attributes. LAZY
references are resolved against the live tree. Values print in .sf syntax (what \`sdpeer set\` takes). For a pool
deployed across the mesh any peer answers: the request goes to the host holding that component.

  --json         print the value as JSON (the resolved-tree form of \`sdpeer check --json\`)
${API_USAGE}`

export async function run (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { json: { type: 'boolean', default: false }, ...API_OPTION },
    allowPositionals: true,
    strict: true
  })
  if (positionals.length < 1 || positionals.length > 2) throw new UsageError('expected POOL:COMPONENT [ATTR]')
  const { pool, path } = splitPoolPath(positionals[0]!)
  const attr = positionals[1]
  const api = apiPath(values.api, io)
  return await withClient('get', api, io, async client => {
    const { value } = await client.call('get', attr === undefined ? { pool, path } : { pool, path, attr })
    if (values.json) io.stdout.write(JSON.stringify(value) + '\n')
    else io.stdout.write(attr === undefined ? sfAttributes(value) : sfValue(value) + '\n')
    return 0
  })
}
