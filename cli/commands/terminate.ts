import { parseArgs } from 'node:util'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { API_OPTION, API_USAGE, apiPath, splitPoolPath, withClient } from '../lib/api.ts'
import { poolJson, poolText } from '../lib/status-format.ts'

export const summary = 'terminate a pool, or one component of it (children in reverse order), removing its storage'
export const usage = `sdpeer terminate POOL[:COMPONENT[:COMPONENT...]] [--abnormal] [--reason TEXT] [--json] [--api PATH]

Terminates every component of POOL, children in reverse order of deployment, and returns when everything is down.
A pool deployed across the mesh can be terminated from any peer: each host holding a part terminates it (remote
children before their parent), the pool's domain names and addresses are released, and the mesh's registry says
terminated (\`sdpeer ls\`). A host the mesh has declared dead is not waited for: its parts are recorded as lost
with it (named in the reason; if it comes back it stops them itself, fenced). A live host that does not answer
within the request timeout is named, the pool is left failed, and the exit status is 1.
Attributes that act at termination apply now: saveImage writes the guest's file system to saveImagePath first,
keepVolumes keeps the volumes; otherwise every file and volume of the pool is removed.

POOL:PATH terminates that one component and its children, as SmartFrog's console did: its termination record goes
to its parent, whose sfSyncTerminate decides (true: the parent terminates too, and so on up; false: the parent
records it and the rest of the pool runs on). The component stays listed, terminated (failed with --abnormal).
In a pool deployed across the mesh, the host holding the component does it, after checking your signature; a
component that is the root of a part on another host reports to its parent's host as when it ends by itself.

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
  if (positionals.length !== 1) throw new UsageError('expected exactly one POOL or POOL:PATH')
  const { pool, path } = splitPoolPath(positionals[0]!)
  const api = apiPath(values.api, io)
  return await withClient('terminate', api, io, async client => {
    const status = await client.call('terminate', {
      pool,
      type: values.abnormal ? 'abnormal' : 'normal',
      ...(values.reason !== undefined ? { reason: values.reason } : {}),
      ...(path !== '' ? { path } : {})
    })
    io.stdout.write(values.json ? JSON.stringify(poolJson(status)) + '\n' : poolText(status))
    const ended = path === '' ? status.state : status.components.find(c => c.path === path)?.state
    return ended === 'terminated' ? 0 : 1
  })
}
