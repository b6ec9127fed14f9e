import { parseArgs } from 'node:util'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { API_OPTION, API_USAGE, apiPath, withClient } from '../lib/api.ts'
import { poolJson, poolText } from '../lib/status-format.ts'
import { DeployProgress } from '../lib/progress.ts'
import { resolveDescription } from '../lib/resolve.ts'
import { checkPoolName, ApiRequestError } from '../../node/api/messages.ts'
import type { PoolStatus } from '../../node/engine/types.ts'

export const summary = 'resolve a .sf description and deploy it as a pool'
export const usage = `sdpeer deploy FILE --name POOL [--at HOST] [--wait] [-I DIR]... [--json] [--api PATH]

Resolves FILE here (as \`sdpeer check\` does) and sends the resolved sfConfig to the daemon, which checks it again,
deploys every component and starts them. A description with errors is not sent: its diagnostics are printed and the
exit status is 1.

A component whose sfProcessHost names another host of the mesh goes to that host's daemon, with its subtree (a
component without one stays with its parent). Such a pool is deployed in two phases: every host prepares (checks,
reserves capacity, claims domain names and addresses across the mesh), then all commit; if one host refuses or
fails, every host aborts and nothing is left anywhere. A host nobody answers to is refused before anything starts.

  --name POOL    the pool's name (letters, digits, "_.-", at most 64), unique in the mesh
  --at HOST      put the pool's root on HOST instead of on this host (or on the root's own sfProcessHost)
  --wait         show each component's progress and return once the pool runs (exit 0) or failed (exit 1; a failed
                 deploy is rolled back and leaves nothing behind). Without it, returns once the daemon has taken the
                 pool; follow it with \`sdpeer status POOL\`.
  -I DIR         add DIR to the include path (repeatable)
  --json         print the final status as JSON (the form of \`sdpeer status --json\`)
${API_USAGE}`

export async function run (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      name: { type: 'string' },
      at: { type: 'string' },
      wait: { type: 'boolean', default: false },
      include: { type: 'string', short: 'I', multiple: true, default: [] },
      json: { type: 'boolean', default: false },
      ...API_OPTION
    },
    allowPositionals: true,
    strict: true
  })
  if (positionals.length !== 1) throw new UsageError('expected exactly one FILE')
  if (values.name === undefined) throw new UsageError('--name POOL is required')
  try {
    checkPoolName(values.name, '--name')
  } catch (err) {
    if (err instanceof ApiRequestError) throw new UsageError(err.message)
    throw err
  }
  const path = apiPath(values.api, io)

  const resolved = await resolveDescription(positionals[0]!, values.include, io)
  if (resolved.status !== 0) return resolved.status
  const config = resolved.config!

  return await withClient('deploy', path, io, async client => {
    let status: PoolStatus
    const progress = new DeployProgress(io.stdout)
    const started = Date.now()
    try {
      const result = await client.call('deploy', { pool: values.name!, config, wait: values.wait, ...(values.at !== undefined ? { at: values.at } : {}) }, {
        onItem: item => {
          // Component states only: the commands and their output are in `sdpeer logs`.
          if (item.kind === 'event' && !values.json) progress.event(item.event)
        }
      })
      if ('accepted' in result) {
        if (values.json) io.stdout.write(JSON.stringify({ pool: result.pool, state: 'deploying', components: [] }) + '\n')
        else io.stdout.write(`pool ${result.pool} accepted; follow it with \`sdpeer status ${result.pool}\`\n`)
        return 0
      }
      status = result
    } catch (err) {
      // A deploy that fails in the engine has been rolled back by the time this answer comes: nothing is left.
      const e = err as Error
      if (values.wait && !values.json) progress.finish(`pool ${values.name} not deployed (${((Date.now() - started) / 1000).toFixed(1)} s)`)
      if (e.name === 'ApiRemoteError') {
        // One line, whatever the error said (a mesh deploy names each refusing host and its peer).
        io.stderr.write(`sdpeer deploy: pool ${values.name} not deployed: ${e.message.replace(/\s*\n\s*/g, ' ')}\n`)
        return 1
      }
      throw err
    }
    if (!values.json) progress.finish(`pool ${status.pool} ${status.state} after ${((Date.now() - started) / 1000).toFixed(1)} s (${status.components.length} components)`)
    io.stdout.write(values.json ? JSON.stringify(poolJson(status)) + '\n' : poolText(status))
    return status.state === 'running' ? 0 : 1
  })
}
