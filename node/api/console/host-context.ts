import type { HypervisorDriver } from '../../drivers/types.ts'
import type { PoolEngine } from '../../engine/types.ts'
import type { Clock } from '../../seams/clock.ts'
import type { HostsProvider, ImagesProvider } from './providers.ts'
import type { ConsoleLog } from './server.ts'
import type { ApiHandler } from '../server.ts'

// What a DeployManagement component needs to serve the console on its host: the engine it runs in, the state dir
// holding the console's token, the host's providers. A component only sees its ComponentEnv (host name, driver,
// clock), so the host's console registers these (startConsole does, for a daemon started with --console) under the
// host's name; the component looks them up by env.host. One process may run several engines (tests, simulations),
// hence the map; every registration is removed by the function it returns.

export interface ConsoleHostContext {
  host: string
  stateDir: string
  engine: PoolEngine
  driverName: string
  driver: Pick<HypervisorDriver, 'fingerprint'>
  hosts?: HostsProvider
  images?: ImagesProvider
  /** The daemon's control-API handler, for a console that shows pools across the mesh (see pools.ts). */
  api?: ApiHandler
  clock?: Clock
  log?: ConsoleLog
}

const contexts = new Map<string, ConsoleHostContext>()
const waiters = new Map<string, Set<(ctx: ConsoleHostContext) => void>>()

/** Registers the host's context; returns the function that removes it (the daemon's stop). */
export function registerConsoleHost (ctx: ConsoleHostContext): () => void {
  contexts.set(ctx.host, ctx)
  const waiting = waiters.get(ctx.host)
  waiters.delete(ctx.host)
  for (const w of waiting ?? []) w(ctx)
  return () => { if (contexts.get(ctx.host) === ctx) contexts.delete(ctx.host) }
}

/**
 * Calls `fn` once when the host's context is registered (a restarted daemon recovers its pools before its console
 * starts). Returns the function that cancels the wait.
 */
export function whenConsoleHost (host: string, fn: (ctx: ConsoleHostContext) => void): () => void {
  let set = waiters.get(host)
  if (set === undefined) { set = new Set(); waiters.set(host, set) }
  set.add(fn)
  return () => { waiters.get(host)?.delete(fn) }
}

export function consoleHostFor (host: string): ConsoleHostContext | undefined {
  return contexts.get(host)
}
