import { parseArgs } from 'node:util'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { API_OPTION, API_USAGE, apiPath, splitPoolPath, withClient } from '../lib/api.ts'
import { parseSfValue } from '../lib/resolve.ts'
import { sfValue } from '../lib/sf-value.ts'

export const summary = 'change an attribute of a live component'
export const usage = `sdpeer set POOL:COMPONENT[:COMPONENT...] ATTR VALUE [--api PATH]

Changes ATTR of the running component at POOL:comp:comp. VALUE is in .sf syntax: true, 42, "text", [| 1, 2 |]
(quote it for the shell: sdpeer set web:loop saveImagePath '"/srv/images"'). The daemon checks it against the
component type's schema and refuses a wrong type or an attribute the type does not have (for a pool deployed across
the mesh, any peer takes the change to the host holding that component). Attributes that act at
termination (saveImage, saveImagePath, saveImageName, keepVolumes of a storage backend) take effect when the
component terminates: \`sdpeer set web:loop saveImage true\` then \`sdpeer terminate web\` saves the guest's image.

${API_USAGE}`

export async function run (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { ...API_OPTION },
    allowPositionals: true,
    strict: true
  })
  if (positionals.length !== 3) throw new UsageError('expected POOL:COMPONENT ATTR VALUE')
  const { pool, path } = splitPoolPath(positionals[0]!)
  const attr = positionals[1]!
  let value
  try {
    value = parseSfValue(positionals[2]!)
  } catch (err) {
    if ((err as Error).name === 'ValueSyntaxError' || (err as Error).name === 'SfSyntaxError') {
      io.stderr.write(`sdpeer set: VALUE ${JSON.stringify(positionals[2])} is not a .sf value: ${(err as Error).message}\n`)
      return 2
    }
    throw err
  }
  const api = apiPath(values.api, io)
  return await withClient('set', api, io, async client => {
    await client.call('set', { pool, path, attr, value })
    io.stdout.write(`${pool}${path ? ':' + path : ''} ${attr} = ${sfValue(value)}\n`)
    return 0
  })
}
