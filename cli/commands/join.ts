import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import { readFileSync } from 'node:fs'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import module from 'node:module'
import { startDaemon } from '../../node/daemon/daemon.ts'
import type { Daemon } from '../../node/daemon/daemon.ts'
import { loadFactories } from '../../node/daemon/factories.ts'
import { DAEMON_JEMALLOC_CONF, DAEMON_NODE_FLAGS, daemonAllocator, daemonStage, restartIfCompiledCold } from '../daemon-exec.ts'
import { trimHeapWhenQuiet } from '../heap-trim.ts'
import { parseCapacity } from '../../node/drivers/sim/capacity.ts'
import { parseConsoleAddress } from '../../node/api/console/address.ts'
import { multiaddr } from '@multiformats/multiaddr'

export const summary = 'run this host\'s daemon in the foreground'
export const usage = `sdpeer join --host NAME --state-dir DIR --driver sim|qemu|xen|libvirt [--alias NAME]...
       [--listen MULTIADDR]... [--bootstrap MULTIADDR]... [--pool-key FILE] [--allow-path DIR]... [--insecure]
       [--capacity memory=MiB,vcpus=N] [--driver-opt KEY=VALUE]... [--api PATH] [--json-logs]
       [--lvm-volume-group VG] [--lvm-dev-dir DIR]
       [--console ADDR:PORT [--console-public] [--metrics-public]]

Runs the sdpeer daemon of this host in the foreground until SIGINT or SIGTERM: a peer of the mesh (libp2p over TCP,
noise, yamux; membership by SWIM with Lifeguard; a signed host directory) that deploys the parts of pools placed on
this host and takes whole pools to split across the mesh by sfProcessHost.

  --host NAME           the name descriptions use for this host (sfProcessHost)
  --alias NAME          a further name or address this host answers to in sfProcessHost (repeatable)
  --listen MULTIADDR    where the mesh peer listens (repeatable); default /ip4/127.0.0.1/tcp/0 (loopback, any free
                        port: only peers on this machine can reach it; give e.g. /ip4/0.0.0.0/tcp/4001 for a LAN)
  --bootstrap MULTIADDR a peer to join the mesh through, with its /p2p/ID (repeatable); the rest of the mesh is
                        learned from it. Every daemon writes STATE_DIR/mesh.json {peerId, addrs, host} once listening.
  --pool-key FILE       the mesh's pre-shared key (\`sdpeer keygen pool\`); default STATE_DIR/pool.key when present.
                        Peers without it cannot complete a connection.
  --allow-path DIR      a directory descriptions may read images and kernels from and save images to (repeatable;
                        ro:DIR for read only). Any other path in a description (baseImage, kernel, saveImagePath...)
                        is refused before anything starts; with --insecure and no --allow-path, paths are not checked.
  --insecure            start without a pool key or a trust store (STATE_DIR/trust.json): any peer may connect and
                        requests run unsigned. Logged at every start and shown in \`sdpeer hosts\`. Without it such a
                        daemon refuses to start (\`sdpeer init\` sets up both). Secure, every deploy, terminate or
                        set must be signed by an operator key of the trust store; each host holding a part checks the
                        operator's signature itself.
  --state-dir DIR       durable state: pools, domain handles, the daemon's identity; created mode 0700.
                        A state dir belongs to one host name and driver, and to one running daemon at a time.
  --driver NAME         hypervisor driver: sim, qemu, xen or libvirt
  --capacity SPEC       memory=MiB,vcpus=N offered to guests (memory=16G also accepted); default: the driver's
  --api PATH            control socket (default STATE_DIR/api.sock), mode 0600. Refuses to start when another
                        daemon answers there; removes a stale socket left by a killed one.
  --lvm-volume-group VG the volume group of LVMStorageBackend components that name none
  --lvm-dev-dir DIR     where LVM device nodes appear (default /dev)
  --driver-opt KEY=VAL  a driver setting (repeatable); unknown keys are refused. qemu: qemuAccel=kvm|tcg|auto,
                        qemuBinary, qemuFirmware, qemuStartTimeoutMs; libvirt: libvirtUri (default qemu:///system),
                        libvirtDomainType=kvm|qemu (qemu: TCG, where KVM is missing); xen: xl (the program);
                        sim: simBootMs, simShutdownMs, simStartFail, simCrashAfterMs, simIgnoreShutdown
  --json-logs           JSON log lines on stderr even when it is a terminal (they are JSON whenever it is not)
  --console ADDR:PORT   serve the management console and Prometheus /metrics (e.g. 127.0.0.1:8080; port 0: any
                        free one). Every request needs the token kept in STATE_DIR/console.token: \`sdpeer console\`
                        prints the URL to open.
  --console-public      allow a non-loopback --console address (the console changes and terminates pools)
  --metrics-public      serve /metrics without the token

On start the daemon recovers the pools recorded in the state dir: it re-attaches to domains that still run and
terminates what was half-deployed. SIGINT/SIGTERM stop the daemon WITHOUT terminating pools; the next daemon on the
same state dir takes them over. Exit status: 0 after a clean stop, 1 when the daemon cannot start.

Started through the \`sdpeer\` command, the daemon re-executes itself once (same process id) with the node flags
  ${DAEMON_NODE_FLAGS.join(' ')}
and, when the host has jemalloc (Debian: libjemalloc2), that allocator preloaded (LD_PRELOAD) with
  MALLOC_CONF=${DAEMON_JEMALLOC_CONF}
(without it, glibc with MALLOC_ARENA_MAX=2). These keep its memory down (BENCHMARKS.md, Mesh → Memory). An LD_PRELOAD,
MALLOC_CONF or MALLOC_ARENA_MAX of your own is kept; SDPEER_MALLOC=glibc keeps glibc. It re-executes once more when
loading its modules missed Node's compile cache (first start after an upgrade). The "daemon tuned" log line says
which allocator and flags it runs with.`

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
      'metrics-public': { type: 'boolean', default: false },
      alias: { type: 'string', multiple: true, default: [] },
      listen: { type: 'string', multiple: true, default: [] },
      bootstrap: { type: 'string', multiple: true, default: [] },
      'pool-key': { type: 'string' },
      'allow-path': { type: 'string', multiple: true, default: [] },
      insecure: { type: 'boolean', default: false },
      'lvm-volume-group': { type: 'string' },
      'lvm-dev-dir': { type: 'string' },
      'driver-opt': { type: 'string', multiple: true, default: [] }
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

  for (const a of [...values.listen, ...values.bootstrap]) {
    try {
      multiaddr(a)
    } catch (err) {
      throw new UsageError(`${JSON.stringify(a)} is not a multiaddr (e.g. /ip4/127.0.0.1/tcp/4001): ${(err as Error).message}`)
    }
  }
  for (const b of values.bootstrap) {
    if (!b.includes('/p2p/')) throw new UsageError(`--bootstrap ${b}: needs the peer's id (.../p2p/ID; see that peer's STATE_DIR/mesh.json)`)
  }
  const driverSettings = parseDriverOpts(values['driver-opt'])
  const lvm = {
    ...(values['lvm-volume-group'] !== undefined ? { volumeGroup: values['lvm-volume-group'] } : {}),
    ...(values['lvm-dev-dir'] !== undefined ? { devDir: resolve(io.cwd, values['lvm-dev-dir']) } : {})
  }

  // Every module the daemon needs is loaded before it takes the state dir, so that a cold compile cache can still
  // be answered by a fresh process (cli/daemon-exec.ts) rather than a resident TypeScript stripper.
  const factories = await loadFactories()
  restartIfCompiledCold()
  // Loading ~900 modules leaves the old generation fragmented. Compacted now, before the daemon is a member of any
  // mesh, the collection's pause (40-150 ms) cannot delay an answer to a probe, whatever the machine's load; the
  // trimmer below handles what joining and deploys add, when the machine lets it.
  globalThis.gc?.({ type: 'major', execution: 'sync', flavor: 'last-resort' })

  let daemon: Daemon
  try {
    daemon = await startDaemon({
      host: values.host,
      stateDir: resolve(io.cwd, values['state-dir']),
      driver: values.driver,
      ...(capacity ? { capacity } : {}),
      ...(Object.keys(driverSettings).length > 0 ? { driverSettings } : {}),
      ...(values.api !== undefined ? { apiPath: resolve(io.cwd, values.api) } : {}),
      jsonLogs: values['json-logs'],
      ...(values.console !== undefined ? { console: { listen: values.console, public: values['console-public'], metricsPublic: values['metrics-public'] } } : {}),
      logStream: io.stderr,
      mesh: {
        ...(values.alias.length > 0 ? { aliases: values.alias } : {}),
        ...(values.listen.length > 0 ? { listen: values.listen } : {}),
        bootstrap: values.bootstrap
      },
      ...(values['pool-key'] !== undefined ? { poolKeyFile: resolve(io.cwd, values['pool-key']) } : {}),
      allowPaths: values['allow-path'].map(p => p.startsWith('ro:') ? `ro:${resolve(io.cwd, p.slice(3))}` : resolve(io.cwd, p)),
      insecure: values.insecure,
      ...(Object.keys(lvm).length > 0 ? { lvm } : {})
    }, factories)
  } catch (err) {
    io.stderr.write(`sdpeer join: ${err instanceof Error ? `${err.name}: ${err.message}` : String(err)}\n`)
    return 1
  }
  const signalled = new Promise<NodeJS.Signals>(resolveSignal => {
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

  // For the next daemon started on this machine (a cluster's others, a restart): compiled entries are otherwise
  // written only when this process exits.
  try { module.flushCompileCache?.() } catch {}
  if (daemonStage() !== 'none') {
    daemon.log.info({ allocator: daemonAllocator(() => readFileSync('/proc/self/maps', 'utf8')), nodeFlags: process.execArgv }, 'daemon tuned')
  }
  const trimmer = trimHeapWhenQuiet({
    gc: globalThis.gc,
    onTrim: t => { daemon.log.info({ heapMiB: [t.beforeBytes, t.afterBytes].map(b => Math.round(b / 104857.6) / 10), pauseMs: Math.round(t.pauseMs) }, 'heap trimmed') }
  })

  const signal = await signalled
  daemon.log.info({ signal }, 'signal received')
  trimmer.stop()
  await daemon.stop()
  return 0
}

/** `--driver-opt KEY=VALUE`: true/false as booleans, integers as numbers, anything else as a string. */
function parseDriverOpts (opts: readonly string[]): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {}
  for (const o of opts) {
    const eq = o.indexOf('=')
    const key = eq > 0 ? o.slice(0, eq) : ''
    if (!/^[A-Za-z][A-Za-z0-9]*$/.test(key)) throw new UsageError(`--driver-opt ${JSON.stringify(o)}: expected KEY=VALUE (e.g. qemuAccel=tcg)`)
    const v = o.slice(eq + 1)
    out[key] = v === 'true' ? true : v === 'false' ? false : /^-?\d+$/.test(v) ? Number(v) : v
  }
  return out
}
