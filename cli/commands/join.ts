import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { startDaemon } from '../../node/daemon/daemon.ts'
import type { Daemon } from '../../node/daemon/daemon.ts'
import { parseCapacity } from '../../node/drivers/sim/capacity.ts'
import { parseConsoleAddress } from '../../node/api/console/address.ts'

export const summary = 'run this host\'s daemon in the foreground'
export const usage = `sdpeer join --host NAME --state-dir DIR --driver sim [--capacity memory=MiB,vcpus=N] [--api PATH] [--json-logs]
       [--console ADDR:PORT [--console-public] [--metrics-public]]

Runs the sdpeer daemon of this host in the foreground until SIGINT or SIGTERM.

  --host NAME           the name descriptions use for this host (sfProcessHost)
  --state-dir DIR       durable state: pools, domain handles, the daemon's identity; created mode 0700.
                        A state dir belongs to one host name and driver, and to one running daemon at a time.
  --driver NAME         hypervisor driver (sim)
  --capacity SPEC       memory=MiB,vcpus=N offered to guests (memory=16G also accepted); default: the driver's
  --api PATH            control socket (default STATE_DIR/api.sock), mode 0600. Refuses to start when another
                        daemon answers there; removes a stale socket left by a killed one.
  --json-logs           JSON log lines on stderr even when it is a terminal (they are JSON whenever it is not)
  --console ADDR:PORT   serve the management console and Prometheus /metrics (e.g. 127.0.0.1:8080; port 0: any
                        free one). Every request needs the token kept in STATE_DIR/console.token: \`sdpeer console\`
                        prints the URL to open.
  --console-public      allow a non-loopback --console address (the console changes and terminates pools)
  --metrics-public      serve /metrics without the token

On start the daemon recovers the pools recorded in the state dir: it re-attaches to domains that still run and
terminates what was half-deployed. SIGINT/SIGTERM stop the daemon WITHOUT terminating pools; the next daemon on the
same state dir takes them over. Exit status: 0 after a clean stop, 1 when the daemon cannot start.`

export async function run (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      host: { type: 'string' },
      'state-dir': { type: 'string' },
      driver: { type: 'string' },
      capacity: { type: 'string' },
      api: { type: 'string' },
      'json-logs': { type: 'boolean', default: false },
      console: { type: 'string' },
      'console-public': { type: 'boolean', default: false },
      'metrics-public': { type: 'boolean', default: false }
    },
    allowPositionals: true,
    strict: true
  })
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`)
  if (values.host === undefined) throw new UsageError('--host NAME is required')
  if (values['state-dir'] === undefined) throw new UsageError('--state-dir DIR is required')
  if (values.driver === undefined) throw new UsageError('--driver NAME is required (sim)')
  let capacity
  try {
    capacity = values.capacity === undefined ? undefined : parseCapacity(values.capacity)
  } catch (err) {
    throw new UsageError((err as Error).message)
  }
  if (values.console !== undefined) {
    try {
      parseConsoleAddress(values.console, values['console-public'])
    } catch (err) {
      throw new UsageError((err as Error).message)
    }
  } else if (values['console-public'] || values['metrics-public']) {
    throw new UsageError('--console-public and --metrics-public go with --console ADDR:PORT')
  }

  let daemon: Daemon
  try {
    daemon = await startDaemon({
      host: values.host,
      stateDir: resolve(io.cwd, values['state-dir']),
      driver: values.driver,
      ...(capacity ? { capacity } : {}),
      ...(values.api !== undefined ? { apiPath: resolve(io.cwd, values.api) } : {}),
      jsonLogs: values['json-logs'],
      ...(values.console !== undefined ? { console: { listen: values.console, public: values['console-public'], metricsPublic: values['metrics-public'] } } : {}),
      logStream: io.stderr
    })
  } catch (err) {
    io.stderr.write(`sdpeer join: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`)
    return 1
  }

  const signal = await new Promise<NodeJS.Signals>(resolveSignal => {
    const on = (s: NodeJS.Signals): void => {
      process.off('SIGINT', on)
      process.off('SIGTERM', on)
      // A second signal while stopping means "now": exit without waiting for a stuck engine.
      process.once('SIGINT', () => process.exit(130))
      process.once('SIGTERM', () => process.exit(143))
      resolveSignal(s)
    }
    process.on('SIGINT', on)
    process.on('SIGTERM', on)
  })
  daemon.log.info({ signal }, 'signal received')
  await daemon.stop()
  return 0
}
