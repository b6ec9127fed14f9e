import { watch } from 'node:fs'
import type { FSWatcher } from 'node:fs'
import { join } from 'node:path'
import type { HostCapacity, HypervisorDriver } from '../drivers/types.ts'
import type { EngineEvent, PoolEngine } from '../engine/types.ts'
import type { Clock } from '../seams/clock.ts'
import { realClock } from '../seams/clock.ts'
import { ApiServer } from '../api/server.ts'
import type { ApiHandler } from '../api/server.ts'
import { createEngineHandler } from '../api/engine-handler.ts'
import { createAuthGate } from '../api/auth-gate.ts'
import { createLogger } from './logger.ts'
import type { Logger } from './logger.ts'
import { ensureStateDir, loadIdentity, lockStateDir } from './state-dir.ts'
import { loadFactories } from './factories.ts'
import { consoleSigner, loadOrCreateConsoleKey, trustCommand } from '../api/console/operator.ts'
import type { DaemonFactories } from './factories.ts'
import { loadHostSecurity } from '../security/startup.ts'
import type { LvmDefaults } from '../engine/host-io.ts'
import { startMesh } from './mesh.ts'
import { lateImageResolver, startImageService } from '../images/service.ts'
import type { ImageService } from '../images/service.ts'
import type { MeshVm } from '../api/console/mesh-hosts.ts'
import type { DaemonMesh, MeshOptions } from './mesh.ts'

// Assembles one host's daemon: state dir (lock, identity), logger, hypervisor driver, engine (recovering what an
// earlier daemon left running), and the control API on a Unix socket. Stopping it never terminates pools: they keep
// running for the next daemon on this state dir. The mesh (issue 5, node/daemon/mesh.ts) and the console (issue 9)
// hang off the same object, started after the engine and stopped before it. Secure by default (issue 7): without a
// pool key and a trust store the daemon refuses to start unless told `insecure`, which it then logs at every start.

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
  // --- mesh and security (issues 5, 7) ---
  /** The mesh peer's options (listen, bootstrap, aliases); `false`: no mesh, this host alone (tests with fakes). */
  mesh?: MeshOptions | false
  /** `--pool-key FILE`; default STATE_DIR/pool.key when it exists. */
  poolKeyFile?: string
  /** `--allow-path DIR` (or ro:DIR) values. */
  allowPaths?: string[]
  /** `--insecure`: start without a pool key or trust store (logged at every start, shown in `sdpeer hosts`). */
  insecure?: boolean
  /** LVM defaults for the engine (`--lvm-volume-group`, `--lvm-dev-dir`). */
  lvm?: LvmDefaults
  // --- end mesh ---
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
  /** The mesh peer and its deploy service, unless started with `mesh: false`. */
  readonly mesh?: DaemonMesh
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
    // After the lock (a second daemon on this dir hears StateDirError first), before anything listens.
    const security = await loadHostSecurity({
      stateDir: config.stateDir,
      ...(config.poolKeyFile !== undefined ? { poolKeyFile: config.poolKeyFile } : {}),
      allowPaths: config.allowPaths ?? [],
      insecure: config.insecure === true,
      now: Date.now()
    })
    for (const w of security.warnings) log.warn({ insecure: security.insecure }, w)
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
    // The engine exists before the mesh; `baseImage "image:..."` resolves from this host's warehouse until the image
    // service runs, then through it (fetching a missing image from the mesh before prepare goes on).
    let images: ImageService | undefined
    const engine = make.createEngine({
      resolveImage: lateImageResolver(config.stateDir, () => images),
      host,
      stateDir: config.stateDir,
      driver,
      clock,
      ...(config.storageDir ? { storageDir: config.storageDir } : {}),
      ...(config.lvm ? { lvm: config.lvm } : {}),
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

    let mesh: DaemonMesh | undefined
    if (config.mesh !== false) {
      const capacity = config.capacity ?? (typeof driver.fingerprint === 'function' ? (await driver.fingerprint()).capacity : { memoryMiB: 0, vcpus: 0 })
      mesh = await startMesh({ host, stateDir: config.stateDir, driver: config.driver, version: VERSION, capacity, engine, security, clock, log, options: config.mesh ?? {} })
      const m = mesh
      // Before the engine stops: the peer leaves the mesh while its parts are still there to answer.
      undo.splice(1, 0, async () => { await m.stop() })
      const im = await startImageService({
        meshNode: m.node,
        stateDir: config.stateDir,
        clock,
        onHeldChange: async held => { await m.node.updateImages(held) },
        // A transfer is the slow step of a prepare (a deploy's or a re-placement's): the operator sees what it cost.
        onFetch: (ref, r) => {
          if (!r.local) log.info({ image: ref, id: r.record.id, bytes: r.bytes, ms: Math.round(r.durationMs), peers: Object.keys(r.chunksByPeer), resumedChunks: r.resumedChunks, badChunks: r.badChunks.length }, 'image fetched from the mesh')
        }
      })
      images = im
      const stopWatching = watchWarehouse(im, log)
      undo.splice(1, 0, async () => { stopWatching(); images = undefined; await im.stop() })
    }
    // Issue 7's door: every changing request must carry a trusted operator's signature (reads may come unsigned on
    // the 0600 socket); --insecure lets unsigned ones through, logging each.
    const inner = createEngineHandler(engine, { host, driver: config.driver, version: VERSION }, log, mesh)
    handler = createAuthGate(inner, {
      trust: security.trust,
      clock: realClock,
      insecure: security.insecure,
      replay: security.replay,
      log: log.child({ component: 'auth' })
    })
    becomeReady()
    // --- console (issue 9): stopped first, before the control API ---
    let consoleUrl: string | undefined
    if (config.console) {
      // Reads and changes routed like the CLI's (mesh-wide), through the auth gate: the console signs its changes
      // with this host's console key, trusted only where an admin added it (node/api/console/operator.ts).
      const consoleKey = await loadOrCreateConsoleKey(config.stateDir)
      // Loaded only with --console: a daemon without one does not carry the HTTP server (mesh memory, BENCHMARKS.md).
      const { startConsole } = await import('../api/console/index.ts')
      const { meshHostsProvider } = await import('../api/console/mesh-hosts.ts')
      const c = await startConsole({
        ...config.console, host, driverName: config.driver, stateDir: config.stateDir, engine, driver, clock, log: log.child({ component: 'console' }),
        api: consoleSigner(handler, consoleKey),
        ...(mesh !== undefined
          ? { hosts: meshHostsProvider(mesh.node, engine, async () => ((await inner.handle({ id: 'console-hosts', op: 'query', expr: 'pool ~ "*"' }, { emit: () => {}, signal: AbortSignal.timeout(5000) })) as { vms: MeshVm[] }).vms) }
          : {})
      })
      undo.unshift(async () => { await c.close() })
      consoleUrl = c.url
      log.info({ console: c.url, consoleKey: consoleKey.publicText }, 'console ready (`sdpeer console` prints the URL with its token)')
      if (!security.insecure && security.trust.lookup(consoleKey.publicText) === undefined) {
        log.warn({ consoleKey: consoleKey.publicText }, `console changes will be refused until an admin trusts the console key on each host: ${trustCommand(consoleKey.publicText, config.stateDir)}`)
      }
    }
    // --- end console ---
    log.info({ api: apiPath, stateDir: config.stateDir, driver: config.driver, ...(mesh ? { peerId: mesh.node.peerId, addrs: mesh.node.multiaddrs() } : {}), insecure: security.insecure }, 'daemon ready')

    let stopping: Promise<void> | undefined
    return {
      host,
      apiPath,
      engine,
      driver,
      log,
      ...(consoleUrl !== undefined ? { consoleUrl } : {}),
      ...(mesh !== undefined ? { mesh } : {}),
      stop: async () => {
        stopping ??= (async () => {
          log.info({}, 'stopping (pools keep running)')
          // undo is [console, server.close, images.stop, mesh.stop, engine.stop, unsubscribe, release]: stop taking requests first,
          // free the dir last.
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

/**
 * `sdpeer image build/import/rm` write the warehouse directly (the daemon may be down): a record file appearing or
 * going tells the image service to look again at once, so the host's announcement follows within a moment instead of
 * the service's periodic look (30 s), which still covers a missed event.
 */
function watchWarehouse (im: ImageService, log: Logger): () => void {
  let timer: NodeJS.Timeout | undefined
  let watcher: FSWatcher
  try {
    watcher = watch(im.warehouse.dir, (_event, name) => {
      if (name === null || !name.endsWith('.json')) return
      clearTimeout(timer)
      timer = setTimeout(() => { void im.refreshHeld().catch(() => {}) }, 200)
    })
  } catch (err) {
    log.warn({ err: (err as Error).message }, 'cannot watch the image warehouse: changes are announced within 30 s')
    return () => {}
  }
  watcher.on('error', () => { watcher.close() })
  return () => { clearTimeout(timer); watcher.close() }
}

function logEvent (log: Logger, e: EngineEvent): void {
  const fields = { pool: e.pool, path: e.path, kind: e.kind, ...(e.state ? { state: e.state } : {}) }
  if (e.kind === 'log') log.debug(fields, e.message)
  else if (e.state === 'failed') log.warn(fields, e.message)
  else log.info(fields, e.message)
}
