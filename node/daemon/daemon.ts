import { join } from 'node:path'
import type { HostCapacity, HypervisorDriver } from '../drivers/types.ts'
import type { EngineEvent, PoolEngine } from '../engine/types.ts'
import type { Clock } from '../seams/clock.ts'
import { realClock } from '../seams/clock.ts'
import { ApiServer } from '../api/server.ts'
import type { ApiHandler } from '../api/server.ts'
import { createEngineHandler } from '../api/engine-handler.ts'
import { createLogger } from './logger.ts'
import type { Logger } from './logger.ts'
import { ensureStateDir, loadIdentity, lockStateDir } from './state-dir.ts'
import { loadFactories } from './factories.ts'
import { startConsole } from '../api/console/index.ts'
import type { DaemonFactories } from './factories.ts'

// Assembles one host's daemon: state dir (lock, identity), logger, hypervisor driver, engine (recovering what an
// earlier daemon left running), and the control API on a Unix socket. Stopping it never terminates pools: they keep
// running for the next daemon on this state dir. The mesh (issue 5) and the console (issue 9) will hang off the same
// object, started after the engine and stopped before it.

export const VERSION = '0.1.0'

export interface DaemonConfig {
  host: string
  stateDir: string
  driver: string
  capacity?: HostCapacity
  /** Control API socket; `STATE_DIR/api.sock` by default. */
  apiPath?: string
  /** JSON lines even when stderr is a TTY. */
  jsonLogs?: boolean
  logLevel?: string
  /** Driver settings (for sim: knob defaults such as simBootMs, simStartFail). */
  driverSettings?: Record<string, string | number | boolean>
  /** Where loopback images and overlays go; the engine's default is STATE_DIR/storage. */
  storageDir?: string
  /** Where logs go; stderr by default. */
  logStream?: NodeJS.WritableStream & { isTTY?: boolean }
  clock?: Clock
  // --- console (issue 9) ---
  /** `--console ADDR:PORT`: the management console and /metrics; loopback unless `public`. */
  console?: { listen: string, public?: boolean, metricsPublic?: boolean }
  // --- end console ---
}

export class DaemonConfigError extends Error {
  override readonly name = 'DaemonConfigError'
  readonly option: string
  constructor (option: string, message: string) {
    super(`${option}: ${message}`)
    this.option = option
  }
}

// RFC 1123 host names (sfProcessHost takes "either a hostname or an ip address"); an IPv4 address fits this too.
const HOST = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

export function checkHostName (host: string): string {
  if (!HOST.test(host)) throw new DaemonConfigError('--host', `${JSON.stringify(host)} is not a host name (letters, digits, "-", dot-separated labels)`)
  return host
}

export interface Daemon {
  readonly host: string
  readonly apiPath: string
  readonly engine: PoolEngine
  readonly driver: HypervisorDriver
  readonly log: Logger
  /** The console's URL (without its token) when `--console` was given. */
  readonly consoleUrl?: string
  /** Stops the API and the engine's watching, releases the state dir. Pools keep running. Idempotent. */
  stop (): Promise<void>
}

export async function startDaemon (config: DaemonConfig, factories?: Partial<DaemonFactories>): Promise<Daemon> {
  const host = checkHostName(config.host)
  const apiPath = config.apiPath ?? join(config.stateDir, 'api.sock')
  const log = createLogger({ host, stream: config.logStream ?? process.stderr, json: config.jsonLogs, level: config.logLevel })
  const make = await loadFactories(factories)

  await ensureStateDir(config.stateDir)
  const release = await lockStateDir(config.stateDir)
  const undo: Array<() => Promise<void>> = [release]
  try {
    const clock = config.clock ?? realClock
    // Made first so that an unknown --driver is refused before the state dir records it; drivers do no work until
    // called, so nothing touches a domain before the identity check below.
    const driver = await make.createDriver(config.driver, {
      stateDir: config.stateDir,
      clock,
      ...(config.capacity ? { capacity: config.capacity } : {}),
      ...(config.driverSettings ? { settings: config.driverSettings } : {})
    })
    await loadIdentity(config.stateDir, host, config.driver)
    // The socket is claimed before recovery acts on any domain: a daemon that cannot serve (another one answers on
    // --api) must stop before touching pools. Requests that arrive during recovery wait for it.
    let handler: ApiHandler | undefined
    let becomeReady: () => void = () => {}
    const ready = new Promise<void>(resolve => { becomeReady = resolve })
    const server = new ApiServer({
      path: apiPath,
      handler: { handle: async (req, ctx) => { await ready; return await handler!.handle(req, ctx) } },
      log: log.child({ component: 'api' })
    })
    await server.listen()
    undo.unshift(async () => { await server.close() })

    const engineLog = log.child({ component: 'engine' })
    const engine = make.createEngine({
      host,
      stateDir: config.stateDir,
      driver,
      clock,
      ...(config.storageDir ? { storageDir: config.storageDir } : {}),
      log: entry => {
        const { level, msg, host: _h, ...fields } = entry
        const fn = level === 'error' ? engineLog.error : level === 'warn' ? engineLog.warn : level === 'debug' ? engineLog.debug : engineLog.info
        fn.call(engineLog, fields, msg)
      }
    })
    const unsubscribe = engine.onEvent(e => { logEvent(log, e) })
    undo.splice(1, 0, async () => { unsubscribe() })
    undo.splice(1, 0, async () => { await engine.stop() })

    await engine.recover()
    await engine.start()
    const recovered = engine.status()
    if (recovered.length > 0) log.info({ pools: recovered.map(p => `${p.pool}=${p.state}`) }, 'recovered pools from the state dir')

    handler = createEngineHandler(engine, { host, driver: config.driver, version: VERSION }, log)
    becomeReady()
    // --- console (issue 9): stopped first, before the control API ---
    let consoleUrl: string | undefined
    if (config.console) {
      const c = await startConsole({
        ...config.console, host, driverName: config.driver, stateDir: config.stateDir, engine, driver, clock, log: log.child({ component: 'console' })
      })
      undo.unshift(async () => { await c.close() })
      consoleUrl = c.url
      log.info({ console: c.url }, 'console ready (`sdpeer console` prints the URL with its token)')
    }
    // --- end console ---
    log.info({ api: apiPath, stateDir: config.stateDir, driver: config.driver }, 'daemon ready')

    let stopping: Promise<void> | undefined
    return {
      host,
      apiPath,
      engine,
      driver,
      log,
      ...(consoleUrl !== undefined ? { consoleUrl } : {}),
      stop: async () => {
        stopping ??= (async () => {
          log.info({}, 'stopping (pools keep running)')
          // undo is [server.close, engine.stop, unsubscribe, release]: stop taking requests first, free the dir last.
          for (const u of undo) await u()
          log.info({}, 'stopped')
          log.flush()
        })()
        await stopping
      }
    }
  } catch (err) {
    for (const u of undo) await u().catch(() => {})
    throw err
  }
}

function logEvent (log: Logger, e: EngineEvent): void {
  const fields = { pool: e.pool, path: e.path, kind: e.kind, ...(e.state ? { state: e.state } : {}) }
  if (e.kind === 'log') log.debug(fields, e.message)
  else if (e.state === 'failed') log.warn(fields, e.message)
  else log.info(fields, e.message)
}
