import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { setTimeout as sleep } from 'node:timers/promises'
import net from 'node:net'
import { execa } from 'execa'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { loadOrCreateIdentity } from '../mesh/identity.ts'
import { ApiClient } from '../api/client.ts'

// The demo's daemons: real `sdpeer join` processes on loopback, each with its own state dir, log file and console.
// Their peer identities and ports are chosen before they start (plannedAddress), so all start at once, each
// bootstrapping from the others; waitReady then waits for STATE_DIR/mesh.json and the control socket. Each runs in
// its own process group so that a Ctrl-C in the terminal reaches the demo alone: the demo terminates the pools first,
// then stops the daemons.

/**
 * The `sdpeer` bin (what `npx sdpeer join` runs): its compile cache (Node's, shared by every sdpeer command) saves
 * each daemon the type stripping and compiling of its modules, about 1 s of the demo's start on a busy machine.
 */
export const MAIN = fileURLToPath(new URL('../../cli/sdpeer.js', import.meta.url))
/**
 * The demo's LVM stand-ins (lvcreate, lvremove, lvs: a volume is a sparse file under the host's dev dir), since
 * device-mapper does not run everywhere: the tutorial's LVMStorageBackend needs lvcreate. The tests use them too.
 */
export const LVM_STANDINS = fileURLToPath(new URL('./bin', import.meta.url))

export class DemoHostError extends Error {
  override readonly name = 'DemoHostError'
  readonly host: string
  constructor (host: string, message: string, options?: { cause?: unknown }) {
    super(`${host}: ${message}`, options)
    this.host = host
  }
}

export interface MeshInfo { peerId: string, addrs: string[], host: string }

export interface HostSpec {
  name: string
  /** The demo's directory: this host's state dir, log and LVM stand-in volumes go under ROOT/NAME. */
  root: string
  driver: string
  poolKeyFile: string
  /** Where the mesh peer listens (default: loopback, any free port). */
  listen?: string
  bootstrap?: string[]
  /** Start with --insecure (no pool key, no trust store: requests run unsigned). */
  insecure?: boolean
  /** --allow-path values (DIR, or ro:DIR). */
  allowPaths?: string[]
  capacity?: string
}

/** ROOT/NAME/state: where startHost puts a host's state dir. */
export function stateDirOf (root: string, name: string): string {
  return join(root, name, 'state')
}

/**
 * A host's mesh address known before it starts: its peer identity made now (the daemon keeps the one in its state
 * dir) and a free loopback port. Knowing every address up front lets all daemons start at once, each bootstrapping
 * from all the others, instead of waiting for a first one to come up.
 */
export async function plannedAddress (stateDir: string): Promise<string> {
  const id = peerIdFromPrivateKey(await loadOrCreateIdentity(stateDir)).toString()
  return `/ip4/127.0.0.1/tcp/${await freePort()}/p2p/${id}`
}

/** A free loopback TCP port (free now: a demo-grade choice, not a reservation). */
export async function freePort (): Promise<number> {
  const server = net.createServer()
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(0, '127.0.0.1', resolve) })
  const port = (server.address() as net.AddressInfo).port
  await new Promise<void>(resolve => server.close(() => { resolve() }))
  return port
}

export interface DemoHost {
  readonly name: string
  readonly dir: string
  readonly stateDir: string
  readonly apiPath: string
  readonly logFile: string
  readonly pid: number
  mesh?: MeshInfo
}

/** The part of execa's subprocess the demo uses. */
interface Proc extends PromiseLike<unknown> { kill (signal: NodeJS.Signals): boolean, readonly pid?: number | undefined }
interface Running extends DemoHost { proc: Proc, exited: boolean }

const hosts = new WeakMap<DemoHost, Running>()

export async function startHost (s: HostSpec): Promise<DemoHost> {
  const dir = join(s.root, s.name)
  const stateDir = stateDirOf(s.root, s.name)
  const devDir = join(dir, 'dev')
  await mkdir(join(devDir, 'vg0'), { recursive: true })
  const logFile = join(dir, 'daemon.log')
  const args = [
    MAIN, 'join', '--host', s.name, '--state-dir', stateDir, '--driver', s.driver,
    ...(s.insecure === true ? ['--insecure'] : ['--pool-key', s.poolKeyFile]),
    '--listen', s.listen ?? '/ip4/127.0.0.1/tcp/0', '--console', '127.0.0.1:0', '--capacity', s.capacity ?? 'memory=16384,vcpus=16',
    '--lvm-volume-group', 'vg0', '--lvm-dev-dir', devDir, '--json-logs',
    ...(s.bootstrap ?? []).flatMap(b => ['--bootstrap', b]),
    ...(s.allowPaths ?? []).flatMap(p => ['--allow-path', p])
  ]
  // Both streams append to one file (O_APPEND), so the daemon's log lines and a crash's stack stay in order.
  const log = { file: logFile, append: true } as const
  const proc: Proc = execa(process.execPath, args, {
    stdin: 'ignore',
    stdout: log,
    stderr: log,
    detached: true,
    reject: false,
    env: {
      PATH: `${LVM_STANDINS}:${process.env.PATH ?? '/usr/bin:/bin'}`,
      SDPEER_NODE: process.execPath,
      SDPEER_LVM_DEV: devDir,
      SDPEER_RECORD: join(dir, 'lvm-calls.jsonl')
    }
  })
  const h: Running = { name: s.name, dir, stateDir, apiPath: join(stateDir, 'api.sock'), logFile, pid: proc.pid ?? -1, proc, exited: false }
  proc.then(() => { h.exited = true }, () => { h.exited = true })
  hosts.set(h, h)
  return h
}

/** Waits until the daemon has written mesh.json and answers on its control socket. */
export async function waitReady (host: DemoHost, timeoutMs = 20_000): Promise<MeshInfo> {
  const h = hosts.get(host)!
  const deadline = Date.now() + timeoutMs
  while (Date.now() < deadline) {
    if (h.exited) throw new DemoHostError(h.name, `the daemon exited during start; its log: ${h.logFile}\n${await tail(h.logFile)}`)
    const mesh = await readMesh(h.stateDir)
    if (mesh !== undefined && await answers(h.apiPath)) {
      h.mesh = mesh
      return mesh
    }
    await sleep(50)
  }
  throw new DemoHostError(h.name, `not ready after ${timeoutMs} ms; its log: ${h.logFile}\n${await tail(h.logFile)}`)
}

async function readMesh (stateDir: string): Promise<MeshInfo | undefined> {
  try {
    const v = JSON.parse(await readFile(join(stateDir, 'mesh.json'), 'utf8')) as MeshInfo
    return Array.isArray(v.addrs) && v.addrs.length > 0 ? v : undefined
  } catch {
    return undefined
  }
}

async function answers (apiPath: string): Promise<boolean> {
  let client: ApiClient | undefined
  try {
    client = await ApiClient.connect(apiPath)
    await client.call('ping', {})
    return true
  } catch {
    return false
  } finally {
    client?.close()
  }
}

/** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
export async function stopHost (host: DemoHost, graceMs = 10_000): Promise<void> {
  const h = hosts.get(host)!
  if (h.exited) return
  h.proc.kill('SIGTERM')
  // The grace timer is cancelled once the daemon is gone: a pending timer would keep the demo alive after teardown.
  const grace = new AbortController()
  const killed = await Promise.race([
    h.proc.then(() => false),
    sleep(graceMs, true, { signal: grace.signal }).catch(() => false)
  ])
  grace.abort()
  if (killed) {
    h.proc.kill('SIGKILL')
    await h.proc
  }
}

export async function tail (file: string, lines = 15): Promise<string> {
  try {
    return (await readFile(file, 'utf8')).trimEnd().split('\n').slice(-lines).join('\n')
  } catch {
    return '(no log)'
  }
}
