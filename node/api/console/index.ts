import type { HypervisorDriver } from '../../drivers/types.ts'
import type { PoolEngine } from '../../engine/types.ts'
import type { Clock } from '../../seams/clock.ts'
import { metrics, watchEngine } from '../metrics.ts'
import { parseConsoleAddress } from './address.ts'
import type { ConsoleLog } from './server.ts'
import { ConsoleServer } from './server.ts'
import type { HostsProvider, ImagesProvider } from './providers.ts'
import { localHostsProvider } from './providers.ts'

// The daemon's one call: start the console beside the control API, with this host as the only host until the mesh
// provides a directory, and the deploy/termination timers on the engine's events.

export { ConsoleServer } from './server.ts'
export { ConsoleConfigError, parseConsoleAddress } from './address.ts'
export type { HostView, HostsProvider, ImagesProvider, ImageView } from './providers.ts'

export interface DaemonConsoleOptions {
  /** ADDR:PORT as given to `--console`. */
  listen: string
  public?: boolean
  metricsPublic?: boolean
  host: string
  driverName: string
  stateDir: string
  engine: PoolEngine
  driver: Pick<HypervisorDriver, 'fingerprint'>
  hosts?: HostsProvider
  images?: ImagesProvider
  clock?: Clock
  log?: ConsoleLog
}

export interface RunningConsole {
  url: string
  loginUrl: string
  close (): Promise<void>
}

export async function startConsole (o: DaemonConsoleOptions): Promise<RunningConsole> {
  const listen = parseConsoleAddress(o.listen, o.public === true)
  const unwatch = watchEngine(o.engine, metrics, o.clock)
  const server = new ConsoleServer({
    listen,
    stateDir: o.stateDir,
    host: o.host,
    engine: o.engine,
    hosts: o.hosts ?? localHostsProvider(o.host, o.driverName, o.driver, o.engine),
    ...(o.images ? { images: o.images } : {}),
    metricsPublic: o.metricsPublic === true,
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.log ? { log: o.log } : {})
  })
  try {
    await server.start()
  } catch (err) {
    unwatch()
    throw err
  }
  return {
    url: server.url,
    loginUrl: server.loginUrl,
    close: async () => { unwatch(); await server.close() }
  }
}
