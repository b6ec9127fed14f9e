import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { HostsResult } from '../../node/api/messages.ts'
import { ApiClient } from '../../node/api/client.ts'
import type { DaemonProcess } from './harness.ts'
import { sdpeer, sdpeerProcess, spawnDaemon } from './harness.ts'

// `sdpeer join` as an operator meets it: secure by default (no pool key or trust store: refused unless --insecure),
// set up in one command by `sdpeer init`, flags checked before anything starts, STATE_DIR/mesh.json written once
// listening, and a daemon without the pool key unable to join the mesh.

let root: string
const daemons: DaemonProcess[] = []

beforeAll(async () => { root = await mkdtemp(join(tmpdir(), 'sdpeer-mesh-join-')) })
afterEach(async () => {
  for (const d of daemons.splice(0)) {
    if (d.proc.exitCode === null && d.proc.signalCode === null) { d.proc.kill('SIGTERM'); await d.exited }
  }
})
afterAll(async () => { await rm(root, { recursive: true, force: true }) })

async function up (args: string[]): Promise<DaemonProcess & { mesh: { peerId: string, addrs: string[], host: string } }> {
  const d = spawnDaemon(args)
  daemons.push(d)
  const stateDir = args[args.indexOf('--state-dir') + 1]!
  const deadline = Date.now() + 30_000
  for (;;) {
    if (d.proc.exitCode !== null) throw new Error(`daemon exited ${d.proc.exitCode}: ${d.stderr()}`)
    try {
      const mesh = JSON.parse(await readFile(join(stateDir, 'mesh.json'), 'utf8'))
      const c = await ApiClient.connect(d.api)
      await c.call('ping', {})
      c.close()
      return { ...d, mesh }
    } catch {
      if (Date.now() > deadline) throw new Error(`daemon did not come up: ${d.stderr()}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }
}

async function hosts (api: string): Promise<HostsResult> {
  return JSON.parse((await sdpeer(api, ['hosts', '--json'])).stdout) as HostsResult
}

describe('sdpeer join', () => {
  it('refuses to start without a pool key and a trust store, naming the fix; nothing is left listening', async () => {
    const stateDir = join(root, 'bare')
    const r = await sdpeerProcess(['join', '--host', 'bare.cern.ch', '--state-dir', stateDir, '--driver', 'sim'])
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/InsecureStartError: .*no pool key.*no trust store.*sdpeer init --state-dir/)
    await expect(stat(join(stateDir, 'api.sock'))).rejects.toMatchObject({ code: 'ENOENT' })
    await expect(stat(join(stateDir, 'mesh.json'))).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('checks its mesh flags before starting', async () => {
    const sd = join(root, 'flags')
    const noId = await sdpeerProcess(['join', '--host', 'a.cern.ch', '--state-dir', sd, '--driver', 'sim', '--insecure', '--bootstrap', '/ip4/127.0.0.1/tcp/4001'])
    expect(noId.code).toBe(2)
    expect(noId.stderr).toContain('needs the peer\'s id')
    const bad = await sdpeerProcess(['join', '--host', 'a.cern.ch', '--state-dir', sd, '--driver', 'sim', '--insecure', '--listen', 'tcp://127.0.0.1:1'])
    expect(bad.code).toBe(2)
    expect(bad.stderr).toContain('is not a multiaddr')
    const help = await sdpeerProcess(['join', '--help'])
    expect(help.stdout).toContain('default /ip4/127.0.0.1/tcp/0')
  })

  it('after `sdpeer init` runs secure, writes mesh.json, and a daemon without the pool key cannot join it', async () => {
    const first = join(root, 'first')
    const env = { XDG_CONFIG_HOME: join(root, 'config') }
    const init = await sdpeerProcess(['init', '--state-dir', first, '--host', 'first.cern.ch'], env)
    expect(init.code).toBe(0)
    const a = await up(['--host', 'first.cern.ch', '--alias', '127.0.0.1', '--state-dir', first, '--driver', 'sim'])
    expect(a.mesh.host).toBe('first.cern.ch')
    expect(a.mesh.addrs[0]).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${a.mesh.peerId}$`))
    expect(a.stderr()).not.toContain('INSECURE')
    const ha = await hosts(a.api)
    expect(ha.self).toMatchObject({ insecure: false, host: 'first.cern.ch' })
    expect(ha.hosts.map(h => h.hostNames)).toEqual([['first.cern.ch', '127.0.0.1']])

    // An intruder: no pool key (--insecure), bootstrapping straight at the first daemon's address.
    const b = await up(['--host', 'intruder.cern.ch', '--state-dir', join(root, 'intruder'), '--driver', 'sim', '--insecure', '--bootstrap', a.mesh.addrs[0]!])
    expect(b.stderr()).toContain('running INSECURE')
    await new Promise(resolve => setTimeout(resolve, 3000))
    expect((await hosts(a.api)).hosts.map(h => h.peerId)).toEqual([a.mesh.peerId])
    expect((await hosts(b.api)).hosts.filter(h => h.state === 'alive').map(h => h.peerId)).toEqual([])
    const text = await sdpeer(b.api, ['hosts'])
    expect(text.stdout).toMatch(/intruder\.cern\.ch\s+self INSECURE/)
    expect(text.stdout).toContain('runs INSECURE')
  }, 60_000)
})
