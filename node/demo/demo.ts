import type { KeyObject } from 'node:crypto'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { ApiClient } from '../api/client.ts'
import type { HostsResult } from '../api/messages.ts'
import type { PoolStatus } from '../engine/types.ts'
import type { SfJsonObject } from '../sf/sfjson.ts'
import { URL_FILE, readToken } from '../api/console/token.ts'
import { makeDemoKeys } from './keys.ts'
import { freePort, plannedAddress, startHost, stateDirOf, stopHost, waitReady } from './hosts.ts'
import type { DemoHost } from './hosts.ts'
import { GUEST_DIR, QEMU_GUEST, SCHEDULED, TUTORIAL, localiseGuest, localiseScheduled, localiseTutorial, makeBaseImage, prepareGuest, resolveExample } from './pools.ts'

// `sdpeer demo` without its terminal: a mesh of N daemons on loopback, the tutorial's distributed pool deployed from
// the last host (so the tutorial's root, and its DeployManagement console, live on a host that holds no VM), a
// scheduled pool, then a teardown that leaves nothing: pools terminated, daemons stopped, the directory removed.

export const DEMO_HOST_NAMES = ['machine9.cern.ch', 'machine10.cern.ch', 'machine11.cern.ch']
export const TUTORIAL_POOL = 'tutorial'
export const SCHEDULED_POOL = 'scheduled'

export class DemoError extends Error {
  override readonly name = 'DemoError'
}

export interface DemoOptions {
  driver: string
  hosts: number
  /** Keep the demo's directory (state dirs, logs, keys) after stopping. */
  keepDir: boolean
  /** Daemons with --insecure: no pool key, no trust store, unsigned requests (as `sdpeer join --insecure`). */
  insecure?: boolean
  /** Progress lines. */
  say: (line: string) => void
  /** Aborts the start between steps (Ctrl-C while coming up): what was started is torn down, then it rejects. */
  signal?: AbortSignal
}

export interface PoolOutcome { pool: string, file: string, status?: PoolStatus, error?: string }

export interface RunningDemo {
  readonly root: string
  /** The operator key every host trusts (SDPEER_OPERATOR_KEY for the CLI). */
  readonly operatorKeyFile: string
  readonly hosts: readonly DemoHost[]
  /** The entry host's console, with its token. */
  readonly consoleUrl: string
  readonly pools: readonly PoolOutcome[]
  /** Seconds from start to ready. */
  readonly seconds: number
  status (): Promise<PoolStatus[]>
  /** Terminates the pools, stops the daemons, removes the directory (unless keepDir). Idempotent. */
  stop (): Promise<void>
}

export function hostNames (n: number): string[] {
  return Array.from({ length: n }, (_, i) => DEMO_HOST_NAMES[i] ?? `machine${9 + i}.cern.ch`)
}

export async function startDemo (o: DemoOptions): Promise<RunningDemo> {
  if (!Number.isInteger(o.hosts) || o.hosts < 2 || o.hosts > 16) throw new DemoError('--hosts must be between 2 and 16 (the tutorial needs machine9 and machine10)')
  const started = performance.now()
  const root = await mkdtemp(join(tmpdir(), 'sdpeer-demo-'))
  const hosts: DemoHost[] = []
  const names = hostNames(o.hosts)
  let call: Call = caller(undefined)
  let stopping: Promise<void> | undefined
  const stop = async (): Promise<void> => {
    stopping ??= (async () => {
      await terminatePools(call, hosts.at(-1), o.say)
      await Promise.all(hosts.map(async h => { await stopHost(h) }))
      if (o.keepDir) o.say(`kept ${root}`)
      else await rm(root, { recursive: true, force: true })
    })()
    await stopping
  }
  try {
    o.say(`starting ${o.hosts} daemons (driver ${o.driver}) in ${root}`)
    const keys = await makeDemoKeys(root, names.map(n => stateDirOf(root, n)))
    call = caller(o.insecure === true ? undefined : keys.operator.privateKey)
    const addrs = await Promise.all(names.map(async n => await plannedAddress(stateDirOf(root, n))))
    for (const [i, name] of names.entries()) {
      hosts.push(await startHost({
        name,
        root,
        driver: o.driver,
        poolKeyFile: keys.poolKeyFile,
        insecure: o.insecure === true,
        listen: addrs[i]!.replace(/\/p2p\/.*$/, ''),
        // Descriptions may read files only under allowed paths: the demo's own directory (its base image); for sim
        // /boot, read only, where the examples' Xen kernels are (/boot/vmlinuz-2.6-xen; the sim driver reads none);
        // for qemu the guest's kernel, initramfs and base image.
        allowPaths: [root, o.driver === 'qemu' ? `ro:${GUEST_DIR}` : 'ro:/boot'],
        bootstrap: addrs.filter((_, j) => j !== i)
      }))
    }
    const baseImage = makeBaseImage(root)
    // Built while the daemons start (minutes the first time, instant once cached in .cache/guest).
    const guestReady = o.driver === 'qemu' ? prepareGuest() : undefined
    guestReady?.catch(() => {})
    await Promise.all(hosts.map(async h => await waitReady(h)))
    o.signal?.throwIfAborted()
    const entry = hosts.at(-1)!
    await waitForMesh(call, entry, names)
    o.signal?.throwIfAborted()
    o.say(`mesh of ${names.join(', ')} up after ${secondsSince(started)} s; ${o.insecure === true ? 'INSECURE (no pool key, no trust store)' : `pool key ${keys.poolKey.fingerprint}, operator key ${keys.operator.file}`}`)

    const deploy: Deploy = async (...args) => { o.signal?.throwIfAborted(); return await deployer(call, entry, o.say)(...args) }
    const pools = o.driver === 'qemu'
      ? await qemuPools(deploy, names, await guestReady!, o.say)
      : await simPools(deploy, names, await baseImage)

    const consoleUrl = await consoleUrlOf(entry)
    if (o.driver !== 'qemu' && pools[0]?.status !== undefined) await sayDeployManagement(call, entry, o.say)
    return {
      root,
      operatorKeyFile: keys.operator.file,
      hosts,
      consoleUrl,
      pools,
      seconds: Number(secondsSince(started)),
      status: async () => await call(entry, c => c.call('status', {})),
      stop
    }
  } catch (err) {
    await stop().catch(() => {})
    throw err
  }
}

function secondsSince (t: number): string {
  return ((performance.now() - t) / 1000).toFixed(1)
}

/** Runs `fn` on a fresh control-API connection to a host, signing changes with the demo's operator key. */
type Call = <T>(h: DemoHost, fn: (c: ApiClient) => Promise<T>) => Promise<T>

function caller (operatorKey: KeyObject | undefined): Call {
  return async (h, fn) => {
    const client = await ApiClient.connect(h.apiPath, operatorKey !== undefined ? { operatorKey } : {})
    try { return await fn(client) } finally { client.close() }
  }
}

type Deploy = (pool: string, file: string, config: SfJsonObject, at?: string) => Promise<PoolOutcome>

/** The tutorial's distributed pool and the scheduled pool, each example localised to this machine. */
async function simPools (deploy: Deploy, names: readonly string[], baseImage: string): Promise<PoolOutcome[]> {
  const tutorial = localiseTutorial(resolveExample(TUTORIAL), baseImage)
  const scheduled = localiseScheduled(resolveExample(SCHEDULED), names)
  return [
    await deploy(TUTORIAL_POOL, 'examples/tutorial/distVirtualPool.sf', tutorial),
    await deploy(SCHEDULED_POOL, 'examples/scheduler/dispatch.sf', scheduled)
  ]
}

/**
 * Real guests: one tiny guest booted on each of the first two hosts, deployed from the entry peer with the root
 * placed there (--at); each answers on its own forwarded loopback port. Both at once: each boots on its own host.
 */
async function qemuPools (deploy: Deploy, names: readonly string[], guestDir: string, say: (l: string) => void): Promise<PoolOutcome[]> {
  return await Promise.all(names.slice(0, 2).map(async (host, i) => {
    const port = await freePort()
    const pool = `guest-${host.split('.')[0]!}`
    const config = localiseGuest(resolveExample(QEMU_GUEST, { SDPEER_GUEST_DIR: guestDir, SDPEER_PORT1: String(port) }), pool, i)
    const outcome = await deploy(pool, 'examples/qemu/oneGuest.sf', config, host)
    if (outcome.status !== undefined) {
      const url = `http://127.0.0.1:${port}/`
      // `running` means qemu runs; the guest's own httpd answers a moment later, once it has booted.
      const first = await firstAnswer(url, 30_000)
      say(first !== undefined ? `${pool}: the guest on ${host} answers at ${url}: ${first}` : `${pool}: the guest on ${host} did not answer at ${url} within 30 s`)
    }
    return outcome
  }))
}

/** Until the entry peer's directory knows every host by name (deploy resolves sfProcessHost through it). */
async function waitForMesh (call: Call, entry: DemoHost, names: readonly string[], timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  let seen: string[] = []
  while (Date.now() < deadline) {
    const r: HostsResult = await call(entry, c => c.call('hosts', {}))
    seen = r.hosts.filter(h => h.state === 'alive' || h.state === 'self').flatMap(h => h.hostNames)
    if (names.every(n => seen.includes(n))) return
    await sleep(100)
  }
  throw new DemoError(`${entry.name} sees only ${seen.join(', ') || 'itself'} after ${timeoutMs} ms (wanted ${names.join(', ')})`)
}

function deployer (call: Call, entry: DemoHost, say: (l: string) => void): Deploy {
  return async (pool, file, config, at) => {
    const t = performance.now()
    try {
      const status = await call(entry, c => c.call('deploy', { pool, config, wait: true, ...(at !== undefined ? { at } : {}) }))
      if ('accepted' in status) throw new DemoError('the daemon did not wait for the deploy')
      say(`deployed ${file} as pool ${pool} from ${entry.name}${at !== undefined ? ` at ${at}` : ''}: ${status.state} after ${secondsSince(t)} s`)
      return { pool, file, status }
    } catch (err) {
      const error = err instanceof Error ? err.message : String(err)
      say(`pool ${pool} (${file}) not deployed: ${error}`)
      return { pool, file, error }
    }
  }
}

/** The first line a guest's status page answers, or undefined when it does not within `ms`. */
async function firstAnswer (url: string, ms: number): Promise<string | undefined> {
  const deadline = Date.now() + ms
  while (Date.now() < deadline) {
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2000) })
      if (res.ok) return (await res.text()).split('\n')[0]
    } catch {}
    await sleep(200)
  }
  return undefined
}

/** The tutorial's `console extends DeployManagement` serves its own console where its host's daemon offers one. */
async function sayDeployManagement (call: Call, entry: DemoHost, say: (l: string) => void): Promise<void> {
  try {
    const { value } = await call(entry, c => c.call('get', { pool: TUTORIAL_POOL, path: 'console', attr: 'consoleUrl' }))
    if (typeof value === 'string') say(`the tutorial's DeployManagement console  ${value}?token=${await readToken(entry.stateDir)}`)
    else say('the tutorial\'s DeployManagement component runs as a placeholder (its host serves no console)')
  } catch {
    say('the tutorial\'s DeployManagement component runs as a placeholder (its host serves no console)')
  }
}

async function consoleUrlOf (h: DemoHost): Promise<string> {
  const url = (await readFile(join(h.stateDir, URL_FILE), 'utf8')).trim()
  return `${url}?token=${await readToken(h.stateDir)}`
}

async function terminatePools (call: Call, entry: DemoHost | undefined, say: (l: string) => void): Promise<void> {
  if (entry === undefined) return
  try {
    const pools: PoolStatus[] = await call(entry, c => c.call('status', {}))
    for (const p of pools) {
      if (p.state === 'terminated') continue
      const end = await call(entry, c => c.call('terminate', { pool: p.pool, type: 'normal', reason: 'sdpeer demo stopping' }))
      say(`pool ${p.pool} ${end.state}`)
    }
  } catch (err) {
    say(`could not terminate the pools through ${entry.name}: ${err instanceof Error ? err.message : String(err)}`)
  }
}
