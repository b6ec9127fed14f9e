import { execa } from 'execa'
import type { ResultPromise } from 'execa'
import { mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { Writable } from 'node:stream'
import { ApiClient } from '../../node/api/client.ts'
import type { Request, ResultOf } from '../../node/api/messages.ts'
import { createOperatorKey } from '../../node/security/operator-key.ts'
import type { OperatorKey } from '../../node/security/operator-key.ts'
import { createPoolKeyFile } from '../../node/security/pool-key.ts'
import { TrustStore } from '../../node/security/trust-store.ts'

// A mesh of real `sdpeer join` daemons, each a separate process with its own state dir under one temp dir, on
// loopback, with the sim driver. Set up as an operator would, not --insecure: one pool key for all, one operator
// key that every daemon's trust store names admin. The first daemon's STATE_DIR/mesh.json bootstraps the others.
// kill/pause/resume act on a daemon's process; stop() leaves no process, socket or file behind.
//
//   const c = await Cluster.start({ hosts: ['entry.cern.ch', 'machine9.cern.ch', 'machine10.cern.ch'] })
//   await c.call(0, 'hosts', {}); c.kill(1); await c.stop()

const REPO = fileURLToPath(new URL('../../', import.meta.url))
export const SDPEER_JS = join(REPO, 'cli/sdpeer.js')
/** The project's Node 24 (the `node` devDependency); the one running us when started through npx. */
export const NODE = existsSync(join(REPO, 'node_modules/.bin/node')) ? join(REPO, 'node_modules/.bin/node') : process.execPath

export interface DaemonSpec {
  host: string
  /** Further `sdpeer join` arguments (--capacity, --alias, --allow-path...). */
  args?: string[]
  /** Environment of this daemon alone, over the cluster's. */
  env?: Record<string, string>
}

export interface ClusterOptions {
  /** One daemon per entry; a string is a host name. */
  hosts: Array<string | DaemonSpec>
  /** Environment added for every daemon (e.g. the LVM stand-ins' PATH and SDPEER_LVM_DEV). */
  env?: Record<string, string>
  /** Start daemons this many at a time after the first (a small machine starves when all start at once). */
  batch?: number
  /** Milliseconds to wait for one daemon to come up. */
  startTimeoutMs?: number
  /**
   * Each daemon in its own network namespace with its own address (10.78.N.i/24, N random per cluster), linked by
   * veth pairs to a bridge in a "switch" namespace of its own: as real hosts on a LAN, and nothing in the root
   * namespace. Enables cut(i)/heal(i). Needs root (CAP_NET_ADMIN).
   */
  netns?: boolean
}

export interface MeshInfo { peerId: string, addrs: string[], host: string }

/** A membership change as the daemon logged it: `peer` changed to `event` at wall time `at` (ms). */
export interface MemberEvent { event: string, peer: string, at: number }

export class ClusterDaemon {
  readonly index: number
  readonly host: string
  readonly stateDir: string
  readonly api: string
  readonly args: string[]
  readonly env: Record<string, string>
  proc: ResultPromise | undefined
  mesh: MeshInfo | undefined
  /** Set once the process is gone (killed, or exited by itself). */
  exited = true
  paused = false
  /** Its namespace and address in netns mode. */
  netns: { name: string, address: string } | undefined
  /** Membership changes this daemon logged, in order (across restarts). */
  readonly events: MemberEvent[] = []
  #stderr = ''
  #partial = ''

  constructor (index: number, host: string, stateDir: string, args: string[], env: Record<string, string> = {}) {
    this.index = index
    this.env = env
    this.host = host
    this.stateDir = stateDir
    this.api = join(stateDir, 'api.sock')
    this.args = args
  }

  get peerId (): string { return this.mesh?.peerId ?? '' }
  get pid (): number | undefined { return this.proc?.pid }

  /** The last 256 KiB of the daemon's log (JSON lines). */
  stderr (): string { return this.#stderr }

  #line (line: string): void {
    if (!line.includes('"event"')) return
    try {
      const r = JSON.parse(line) as { event?: unknown, peer?: unknown, time?: unknown }
      if (typeof r.event === 'string' && typeof r.peer === 'string' && typeof r.time === 'number') this.events.push({ event: r.event, peer: r.peer, at: r.time })
    } catch {}
  }

  /** The latest state this daemon logged for `peerId` ('alive' after a join), or undefined. */
  stateOf (peerId: string): string | undefined {
    for (let i = this.events.length - 1; i >= 0; i--) {
      const e = this.events[i]!
      if (e.peer === peerId) return e.event === 'join' ? 'alive' : e.event
    }
    return undefined
  }

  attach (proc: ResultPromise): void {
    this.proc = proc
    this.exited = false
    this.paused = false
    this.#partial = ''
    proc.stderr?.on('data', (c: Buffer) => {
      const text = String(c)
      this.#stderr = (this.#stderr + text).slice(-262_144)
      const lines = (this.#partial + text).split('\n')
      this.#partial = lines.pop() ?? ''
      for (const line of lines) this.#line(line)
    })
    void proc.then(() => { this.exited = true }, () => { this.exited = true })
  }
}

export class Cluster {
  readonly base: string
  readonly poolKeyFile: string
  readonly operator: OperatorKey
  readonly daemons: ClusterDaemon[] = []
  readonly #env: Record<string, string>
  readonly #timeoutMs: number
  readonly #net: NetnsSwitch | undefined

  private constructor (base: string, poolKeyFile: string, operator: OperatorKey, o: ClusterOptions, net?: NetnsSwitch) {
    this.#net = net
    this.base = base
    this.poolKeyFile = poolKeyFile
    this.operator = operator
    this.#env = o.env ?? {}
    this.#timeoutMs = o.startTimeoutMs ?? 60_000
  }

  /** Creates the keys, starts the first daemon, then the others bootstrapped from it. */
  static async start (o: ClusterOptions): Promise<Cluster> {
    const base = await mkdtemp(join(tmpdir(), 'sdpeer-cluster-'))
    let cluster: Cluster | undefined
    try {
      const poolKeyFile = join(base, 'pool.key')
      await createPoolKeyFile(poolKeyFile)
      const operator = await createOperatorKey(join(base, 'operator', 'operator.key'))
      const net = o.netns === true ? await NetnsSwitch.create() : undefined
      cluster = new Cluster(base, poolKeyFile, operator, o, net)
      const specs = o.hosts.map(h => typeof h === 'string' ? { host: h } : h)
      if (specs.length === 0) return cluster
      await cluster.add(specs[0]!)
      const batch = o.batch ?? 4
      for (let i = 1; i < specs.length; i += batch) {
        await Promise.all(specs.slice(i, i + batch).map(async s => await cluster!.add(s)))
      }
      return cluster
    } catch (err) {
      if (cluster !== undefined) await cluster.stop()
      else await rm(base, { recursive: true, force: true })
      throw err
    }
  }

  /** Adds one daemon (its trust store naming the operator), bootstrapped from the first one. */
  async add (spec: DaemonSpec): Promise<ClusterDaemon> {
    // Indexed in call order, before any await: daemons added at once keep the order they were asked for.
    const index = this.daemons.length
    const stateDir = join(this.base, `d${String(index).padStart(2, '0')}-${spec.host}`)
    const d = new ClusterDaemon(index, spec.host, stateDir, spec.args ?? [], spec.env)
    this.daemons.push(d)
    if (this.#net !== undefined) d.netns = await this.#net.attach(index)
    await mkdir(stateDir, { recursive: true, mode: 0o700 })
    const trust = await TrustStore.open(stateDir)
    trust.add(this.operator.publicText, 'admin', ['*'], { comment: 'cluster harness operator' })
    await trust.save()
    await this.#spawn(d)
    return d
  }

  /** The first live daemon's first address: where a (re)started daemon joins. */
  #bootstrap (self: ClusterDaemon): string[] {
    const first = this.daemons.find(d => d !== self && !d.exited && d.mesh !== undefined)
    return first?.mesh?.addrs[0] !== undefined ? [first.mesh.addrs[0]] : []
  }

  async #spawn (d: ClusterDaemon): Promise<void> {
    await rm(join(d.stateDir, 'mesh.json'), { force: true })
    const args = [
      // The V8 flag of cli/sdpeer.js's #! line, which a direct `node cli/sdpeer.js` would not get: run as installed.
      '--max-semi-space-size=2', SDPEER_JS, 'join', '--host', d.host, '--state-dir', d.stateDir, '--driver', 'sim', '--pool-key', this.poolKeyFile,
      '--json-logs', ...this.#bootstrap(d).flatMap(b => ['--bootstrap', b]),
      ...(d.netns !== undefined ? ['--listen', `/ip4/${d.netns.address}/tcp/0`] : []), ...d.args
    ]
    // `ip netns exec` enters the namespace and execs node: the process (and its pid, for signals) is the daemon's.
    const [file, argv] = d.netns !== undefined ? ['ip', ['netns', 'exec', d.netns.name, NODE, ...args]] : [NODE, args]
    const proc = execa(file, argv, { env: { ...this.#env, ...d.env }, stdin: 'ignore', stdout: 'ignore', stderr: 'pipe', reject: false, buffer: false })
    d.attach(proc)
    const deadline = Date.now() + this.#timeoutMs
    for (;;) {
      if (d.exited) throw new Error(`daemon ${d.host} exited while starting: ${d.stderr().slice(-2000)}`)
      try {
        d.mesh = JSON.parse(await readFile(join(d.stateDir, 'mesh.json'), 'utf8')) as MeshInfo
        const c = await ApiClient.connect(d.api)
        try { await c.call('ping', {}) } finally { c.close() }
        return
      } catch {
        if (Date.now() > deadline) {
          proc.kill('SIGKILL')
          throw new Error(`daemon ${d.host} did not come up within ${this.#timeoutMs} ms: ${d.stderr().slice(-2000)}`)
        }
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    }
  }

  daemon (i: number): ClusterDaemon {
    const d = this.daemons[i]
    if (d === undefined) throw new RangeError(`no daemon ${i} (cluster of ${this.daemons.length})`)
    return d
  }

  live (): ClusterDaemon[] { return this.daemons.filter(d => !d.exited) }

  /** Sends a signal to daemon i's process; SIGKILL and SIGTERM mark it gone. Returns the wall time it was sent. */
  kill (i: number, signal: NodeJS.Signals = 'SIGKILL'): number {
    const d = this.daemon(i)
    const at = Date.now()
    if (d.paused && signal !== 'SIGKILL') d.proc?.kill('SIGCONT')
    d.proc?.kill(signal)
    return at
  }

  /** SIGSTOP: the process stays, silent, its sockets open (a hung host, not a dead one). */
  pause (i: number): void { this.daemon(i).proc?.kill('SIGSTOP'); this.daemon(i).paused = true }
  resume (i: number): void { this.daemon(i).proc?.kill('SIGCONT'); this.daemon(i).paused = false }

  /** Cuts daemon i off the LAN (its switch port down): a partition, not a crash. netns mode only. */
  async cut (i: number): Promise<void> { await this.#netOf(i).port(i, false) }
  async heal (i: number): Promise<void> { await this.#netOf(i).port(i, true) }

  #netOf (i: number): NetnsSwitch {
    this.daemon(i)
    if (this.#net === undefined) throw new Error('cut/heal need a cluster started with netns: true')
    return this.#net
  }

  /** Waits for daemon i's process to end. */
  async exited (i: number): Promise<void> { await this.daemon(i).proc }

  /** Starts daemon i again on its state dir (same peer id), bootstrapped from a live daemon. */
  async restart (i: number): Promise<ClusterDaemon> {
    const d = this.daemon(i)
    if (!d.exited) { this.kill(i, 'SIGKILL'); await d.proc }
    await this.#spawn(d)
    return d
  }

  /** One control-API request to daemon i, signed with the cluster's operator key when it changes something. */
  async call<O extends Request['op']> (i: number, op: O, params: Omit<Extract<Request, { op: O }>, 'id' | 'op'>): Promise<ResultOf[O]> {
    const c = await ApiClient.connect(this.daemon(i).api, { operatorKey: this.operator.privateKey })
    try {
      return await c.call(op, params)
    } finally {
      c.close()
    }
  }

  /** The environment of an operator's `sdpeer` against daemon i: its socket and the cluster's operator key. */
  cliEnv (i: number): Record<string, string> {
    return { SDPEER_API: this.daemon(i).api, SDPEER_OPERATOR_KEY: this.operator.file }
  }

  /** Runs `sdpeer ARGS` in this process (cli/main.ts, the binary's code) as the cluster's operator, against daemon i. */
  async cli (i: number, args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
    const { main } = await import('../../cli/main.ts')
    const out: Buffer[] = []
    const err: Buffer[] = []
    const sink = (to: Buffer[]): Writable => new Writable({ write (c, _e, cb) { to.push(Buffer.from(c)); cb() } })
    const code = await main(args, { stdout: sink(out), stderr: sink(err), env: this.cliEnv(i), cwd: process.cwd() })
    return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }
  }

  /** Stops every daemon (SIGTERM, then SIGKILL after 5 s) and removes the whole temp dir. */
  async stop (): Promise<void> {
    await Promise.all(this.daemons.map(async d => {
      if (d.exited || d.proc === undefined) return
      d.proc.kill('SIGCONT')
      d.proc.kill('SIGTERM')
      const timer = setTimeout(() => { d.proc?.kill('SIGKILL') }, 5000)
      await d.proc
      clearTimeout(timer)
    }))
    await this.#net?.destroy()
    await rm(this.base, { recursive: true, force: true })
  }
}

/** The LAN of netns mode: a bridge in a namespace of its own, one veth pair and one namespace per daemon. */
export class NetnsSwitch {
  readonly prefix: string
  readonly subnet: number
  readonly #names: string[] = []

  private constructor (prefix: string, subnet: number) {
    this.prefix = prefix
    this.subnet = subnet
  }

  get switchNs (): string { return `${this.prefix}-sw` }

  static async create (): Promise<NetnsSwitch> {
    const tag = Math.random().toString(36).slice(2, 6)
    const sw = new NetnsSwitch(`sdpc${tag}`, 1 + Math.floor(Math.random() * 250))
    await execa('ip', ['netns', 'add', sw.switchNs])
    sw.#names.push(sw.switchNs)
    const inSw = (...a: string[]): Promise<unknown> => execa('ip', ['netns', 'exec', sw.switchNs, 'ip', ...a])
    await inSw('link', 'add', 'br0', 'type', 'bridge')
    await inSw('link', 'set', 'br0', 'up')
    return sw
  }

  /** A namespace for daemon i, plugged into the bridge; returns its name and address. */
  async attach (i: number): Promise<{ name: string, address: string }> {
    if (i > 200) throw new RangeError('netns mode holds at most 200 daemons')
    const name = `${this.prefix}-${i}`
    const address = `10.78.${this.subnet}.${i + 10}`
    const outer = `${this.prefix}${i}s`
    const inner = `${this.prefix}${i}h`
    await execa('ip', ['netns', 'add', name])
    this.#names.push(name)
    await execa('ip', ['link', 'add', outer, 'type', 'veth', 'peer', 'name', inner])
    await execa('ip', ['link', 'set', outer, 'netns', this.switchNs])
    await execa('ip', ['link', 'set', inner, 'netns', name])
    await execa('ip', ['netns', 'exec', this.switchNs, 'ip', 'link', 'set', outer, 'master', 'br0', 'up'])
    const inNs = (...a: string[]): Promise<unknown> => execa('ip', ['netns', 'exec', name, 'ip', ...a])
    await inNs('link', 'set', inner, 'name', 'eth0')
    await inNs('addr', 'add', `${address}/24`, 'dev', 'eth0')
    await inNs('link', 'set', 'eth0', 'up')
    await inNs('link', 'set', 'lo', 'up')
    return { name, address }
  }

  /** Daemon i's switch port up or down. */
  async port (i: number, up: boolean): Promise<void> {
    await execa('ip', ['netns', 'exec', this.switchNs, 'ip', 'link', 'set', `${this.prefix}${i}s`, up ? 'up' : 'down'])
  }

  /** Deletes every namespace (their veths go with them). */
  async destroy (): Promise<void> {
    for (const n of this.#names.splice(0).reverse()) await execa('ip', ['netns', 'del', n], { reject: false })
  }
}
