import { parseArgs } from 'node:util'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { API_OPTION, API_USAGE, apiPath, splitPoolPath, withClient } from '../lib/api.ts'
import { printable } from '../lib/status-format.ts'

export const summary = 'print the log of a component (its shell commands and output, a VM\'s console)'
export const usage = `sdpeer logs POOL[:COMPONENT...] [--follow] [--api PATH]

Prints the log lines the daemon keeps for the component at POOL:comp:comp: a shell's commands and their output, a
VM's console. Control characters are escaped.

  --follow       keep printing new lines as they come, until the component terminates or Ctrl-C
${API_USAGE}`

export async function run (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { follow: { type: 'boolean', short: 'f', default: false }, ...API_OPTION },
    allowPositionals: true,
    strict: true
  })
  if (positionals.length !== 1) throw new UsageError('expected POOL:COMPONENT')
  const { pool, path } = splitPoolPath(positionals[0]!)
  const api = apiPath(values.api, io)
  return await withClient('logs', api, io, async client => {
    const stop = new AbortController()
    const onSignal = (): void => { stop.abort() }
    if (values.follow) process.once('SIGINT', onSignal)
    try {
      const { lines } = await client.call('logs', { pool, path, follow: values.follow }, {
        signal: stop.signal,
        onItem: item => { if (item.kind === 'log') io.stdout.write(printable(item.line) + '\n') }
      })
      for (const line of lines) io.stdout.write(printable(line) + '\n')
    } finally {
      process.off('SIGINT', onSignal)
    }
    return 0
  })
}
