import type { HypervisorDriver } from '../../drivers/types.ts'
import type { PoolEngine } from '../../engine/types.ts'
import type { Clock } from '../../seams/clock.ts'
import { metrics, watchEngine } from '../metrics.ts'
import { parseConsoleAddress } from './address.ts'
import type { ConsoleLog } from './server.ts'
import { ConsoleServer } from './server.ts'
import type { HostsProvider, ImagesProvider } from './providers.ts'
import { localHostsProvider } from './providers.ts'
import { handlerAccess } from './pools.ts'
import { registerConsoleHost } from './host-context.ts'
import type { ApiHandler } from '../server.ts'

// The daemon's one call: start the console beside the control API, with this host as the only host until the mesh
// provides a directory, and the deploy/termination timers on the engine's events.

export { ConsoleServer } from './server.ts'
export { ConsoleConfigError, parseConsoleAddress } from './address.ts'
export type { HostView, HostsProvider, ImagesProvider, ImageView } from './providers.ts'
export { consoleHostFor, registerConsoleHost, whenConsoleHost } from './host-context.ts'
export { engineAccess, handlerAccess } from './pools.ts'
export type { PoolAccess } from './pools.ts'
export type { ConsoleHostContext } from './host-context.ts'

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
  /**
   * The daemon's control-API handler: given, the console reads and changes pools through it (mesh-wide, routed to
   * the peers holding each part); without it, this host's engine alone.
   */
  api?: ApiHandler
  clock?: Clock
  log?: ConsoleLog
  /**
   * Write STATE_DIR/console.url (what `sdpeer console` reads): 'always' for the daemon's `--console`; 'if-absent' for
   * a DeployManagement component's console, which must not take the file from the daemon's own.
   */
  urlFile?: 'always' | 'if-absent'
  /**
   * Register this console's host for DeployManagement components (host-context.ts) while it runs; default true.
   * So a daemon started with `--console` lets the components of its pools serve theirs. DeployManagement's own
   * console passes false.
   */
  offerToComponents?: boolean
}

export interface RunningConsole {
  url: string
  loginUrl: string
  close (): Promise<void>
}

export async function startConsole (o: DaemonConsoleOptions): Promise<RunningConsole> {
  const listen = parseConsoleAddress(o.listen, o.public === true)
  const unwatch = watchOnce(o.engine, o.clock)
  const server = new ConsoleServer({
    listen,
    stateDir: o.stateDir,
    host: o.host,
    engine: o.engine,
    ...(o.api ? { pools: handlerAccess(o.api) } : {}),
    hosts: o.hosts ?? localHostsProvider(o.host, o.driverName, o.driver, o.engine),
    ...(o.images ? { images: o.images } : {}),
    metricsPublic: o.metricsPublic === true,
    ...(o.clock ? { clock: o.clock } : {}),
    ...(o.log ? { log: o.log } : {}),
    ...(o.urlFile ? { urlFile: o.urlFile } : {})
  })
  try {
    await server.start()
  } catch (err) {
    unwatch()
    throw err
  }
  const unregister = o.offerToComponents === false
    ? () => {}
    : registerConsoleHost({
      host: o.host,
      stateDir: o.stateDir,
      engine: o.engine,
      driverName: o.driverName,
      driver: o.driver,
      ...(o.hosts ? { hosts: o.hosts } : {}),
      ...(o.images ? { images: o.images } : {}),
      ...(o.api ? { api: o.api } : {}),
      ...(o.clock ? { clock: o.clock } : {}),
      ...(o.log ? { log: o.log } : {})
    })
  return {
    url: server.url,
    loginUrl: server.loginUrl,
    close: async () => { unregister(); unwatch(); await server.close() }
  }
}

// One metrics watcher per engine however many consoles serve it (the daemon's and DeployManagement components'):
// two would count every deploy twice.
const watchers = new WeakMap<PoolEngine, { count: number, unwatch: () => void }>()

function watchOnce (engine: PoolEngine, clock: Clock | undefined): () => void {
  let w = watchers.get(engine)
  if (w === undefined) {
    w = { count: 0, unwatch: watchEngine(engine, metrics, clock) }
    watchers.set(engine, w)
  }
  w.count++
  const entry = w
  let done = false
  return () => {
    if (done) return
    done = true
    if (--entry.count === 0) {
      entry.unwatch()
      watchers.delete(engine)
    }
  }
}
