import { parseArgs } from 'node:util'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { API_OPTION, API_USAGE, apiPath, withClient } from '../lib/api.ts'
import { poolJson, poolText } from '../lib/status-format.ts'

export const summary = 'terminate a pool (children in reverse order), removing its storage'
export const usage = `sdpeer terminate POOL [--abnormal] [--reason TEXT] [--json] [--api PATH]

Terminates every component of POOL, children in reverse order of deployment, and returns when everything is down.
A pool deployed across the mesh can be terminated from any peer: each host holding a part terminates it (remote
children before their parent), the pool's domain names and addresses are released, and the mesh's registry says
terminated (\`sdpeer ls\`). A host that cannot be reached is named, and the exit status is 1.
Attributes that act at termination apply now: saveImage writes the guest's file system to saveImagePath first,
keepVolumes keeps the volumes; otherwise every file and volume of the pool is removed.

  --abnormal     terminate with an ABNORMAL record instead of NORMAL
  --reason TEXT  the reason carried by the termination record
  --json         print the final status as JSON (the form of \`sdpeer status --json\`)
${API_USAGE}

Exit status 0 when the pool ended terminated, 1 otherwise (or when the daemon refused).`

export async function run (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { abnormal: { type: 'boolean', default: false }, reason: { type: 'string' }, json: { type: 'boolean', default: false }, ...API_OPTION },
    allowPositionals: true,
    strict: true
  })
  if (positionals.length !== 1) throw new UsageError('expected exactly one POOL')
  const path = apiPath(values.api, io)
  return await withClient('terminate', path, io, async client => {
    const status = await client.call('terminate', {
      pool: positionals[0]!,
      type: values.abnormal ? 'abnormal' : 'normal',
      ...(values.reason !== undefined ? { reason: values.reason } : {})
    })
    io.stdout.write(values.json ? JSON.stringify(poolJson(status)) + '\n' : poolText(status))
    return status.state === 'terminated' ? 0 : 1
  })
}
