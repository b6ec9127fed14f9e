import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { fileURLToPath } from 'node:url'
import { Cluster, NODE } from '../../simulations/cluster/cluster.ts'
import { createOperatorKey } from '../../node/security/operator-key.ts'
import { main } from '../../cli/main.ts'
import { filesUnder, sdpeer } from './harness.ts'

// The mesh, end to end: three real `sdpeer join` daemons (separate processes, loopback, pool key, trust stores, sim
// driver, real loopback storage, LVM through the recording stand-ins). The tutorial's distVirtualPool.sf is deployed
// from a third peer onto machine9.cern.ch and machine10.cern.ch; every peer reports it and any peer terminates it.
// Deploys naming an unknown host, or refused by their second host, leave nothing on any host.
//
// The example is used as a test copy: its placeholder addresses (999.999.x.x) become documentation addresses, its
// /data/xen image a tarball made here, and its LVM backends get the volumeSize the stand-ins need. Each daemon allows
// that temp dir and ro:/boot (the example's kernel) with --allow-path; requests are signed by the cluster's operator.

const STANDINS = fileURLToPath(new URL('../fixtures/bin', import.meta.url))
const EXAMPLE = fileURLToPath(new URL('../../examples/tutorial/distVirtualPool.sf', import.meta.url))

let cluster: Cluster
let dir: string
let dist: string
const HOSTS = ['entry.cern.ch', 'machine9.cern.ch', 'machine10.cern.ch']

async function waitFor<T> (what: string, fn: () => Promise<T | undefined>, timeoutMs = 20_000): Promise<T> {
  const deadline = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}


async function json<T> (i: number, args: string[]): Promise<T> {
  const r = await cluster.cli(i, [...args, '--json'])
  if (r.code !== 0) throw new Error(`sdpeer ${args.join(' ')} on ${HOSTS[i]}: exit ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as T
}

interface Pool { pool: string, state: string, components: Array<{ path: string, type: string, host: string, state: string }> }

async function simDomains (i: number): Promise<string[]> {
  const text = await readFile(join(cluster.daemon(i).stateDir, 'sim-domains.json'), 'utf8').catch(() => '{"domains":[]}')
  return (JSON.parse(text) as { domains: Array<{ name: string }> }).domains.map(d => d.name).sort()
}

/** Everything a pool can leave on host i: engine pools, sim domains, loopback files, LVM volumes. */
async function leftOn (i: number): Promise<unknown> {
  const d = cluster.daemon(i)
  return {
    pools: (await json<Pool[]>(i, ['status', '--local'])).map(p => p.pool),
    domains: await simDomains(i),
    storage: await filesUnder(join(d.stateDir, 'storage')),
    lvm: await filesUnder(join(dir, `lvm-${i}`, 'vg0'))
  }
}
const NOTHING = { pools: [], domains: [], storage: [], lvm: [] }

beforeAll(async () => {
  dir = execFileSync('mktemp', ['-d', '/tmp/sdpeer-mesh-e2e-XXXXXX'], { encoding: 'utf8' }).trim()
  const img = join(dir, 'image')
  await mkdir(join(img, 'etc'), { recursive: true })
  await writeFile(join(img, 'etc', 'motd'), 'built by the mesh e2e test\n')
  const base = join(dir, 'slc3-smartfrog.tar.gz')
  execFileSync('tar', ['-C', img, '-czf', base, '.'])
  let ip = 10
  const text = (await readFile(EXAMPLE, 'utf8'))
    .replaceAll('999.999.1.1', '192.0.2.1')
    .replace(/999\.999\.999\.\d+/g, () => `192.0.2.${ip++}`)
    .replaceAll('"/data/xen/slc3-smartfrog.img";', `${JSON.stringify(base)}; volumeSize "16M"; swapSize "4M";`)
  dist = join(dir, 'distVirtualPool.sf')
  await writeFile(dist, text)
  await writeFile(join(dir, 'unknown.sf'), text.replaceAll('machine10.cern.ch', 'machine11.cern.ch'))
  // computer2's image outside every --allow-path directory: machine10 refuses at prepare.
  const last = text.lastIndexOf(JSON.stringify(base))
  await writeFile(join(dir, 'shadow.sf'), text.slice(0, last) + '"/etc/shadow"' + text.slice(last + JSON.stringify(base).length))
  // computer2 asks more memory than machine10 offers (--capacity memory=2048 below): machine10 refuses at prepare.
  await writeFile(join(dir, 'toobig.sf'), text.replace(/hostname "machine10-dom2";/, 'hostname "machine10-dom2"; memory 4096;'))

  const hosts = HOSTS.map((host, i) => {
    const dev = join(dir, `lvm-${i}`)
    return {
      host,
      args: ['--lvm-volume-group', 'vg0', '--lvm-dev-dir', dev, '--allow-path', dir, '--allow-path', 'ro:/boot', ...(i === 2 ? ['--capacity', 'memory=2048,vcpus=8'] : [])],
      env: { PATH: `${STANDINS}:${process.env.PATH ?? ''}`, SDPEER_NODE: NODE, SDPEER_LVM_DEV: dev, SDPEER_RECORD: join(dev, 'record.jsonl') }
    }
  })
  for (let i = 0; i < HOSTS.length; i++) await mkdir(join(dir, `lvm-${i}`, 'vg0'), { recursive: true })
  cluster = await Cluster.start({ hosts })
  // Every peer sees the other two alive, with their announcements (host names) in its directory.
  await waitFor('the mesh to form', async () => {
    for (let i = 0; i < HOSTS.length; i++) {
      const h = await cluster.call(i, 'hosts', {})
      const alive = h.hosts.filter(x => (x.state === 'alive' || x.state === 'self') && x.hostNames.length > 0)
      if (alive.length !== HOSTS.length) return undefined
    }
    return true
  }, 30_000)
}, 90_000)

afterAll(async () => {
  await cluster?.stop()
  if (dir !== undefined) execFileSync('rm', ['-rf', dir])
})

describe('distributed deploy across real daemons', () => {
  it('deploys distVirtualPool from a third peer: each computer on its host, running from every peer, terminated from another', async () => {
    const dep = await cluster.cli(0, ['deploy', dist, '--name', 'dist', '--wait'])
    expect(dep.stderr).toBe('')
    expect(dep.code).toBe(0)

    // Each host's own engine holds its computer's storage and domains, and nothing of the other's.
    const m9 = await json<Pool[]>(1, ['status', '--local'])
    expect(m9.map(p => p.pool)).toEqual(['dist--computer1'])
    expect(m9[0]!.components.map(c => `${c.path} ${c.type} ${c.host} ${c.state}`)).toEqual([
      ' Compound machine9.cern.ch running',
      'myShell BashShell machine9.cern.ch running',
      'loop LoopbackStorageBackend machine9.cern.ch running',
      'domain1 XenDomain machine9.cern.ch running',
      'lvm LVMStorageBackend machine9.cern.ch running',
      'domain2 XenDomain machine9.cern.ch running'
    ])
    const m10 = await json<Pool[]>(2, ['status', '--local'])
    expect(m10.map(p => p.pool)).toEqual(['dist--computer2'])
    expect(m10[0]!.components.map(c => `${c.path} ${c.type} ${c.host}`)).toEqual([
      ' Compound machine10.cern.ch', 'myShell BashShell machine10.cern.ch', 'lvm LVMStorageBackend machine10.cern.ch', 'domain2 XenDomain machine10.cern.ch'
    ])
    expect(await simDomains(1)).toEqual(['domainLVM', 'domainLoopback'])
    expect(await simDomains(2)).toEqual(['domainLVM'])
    expect(await simDomains(0)).toEqual([])
    expect(await filesUnder(join(cluster.daemon(1).stateDir, 'storage'))).toEqual(['dist--computer1/loop/domainLoopback-disk.img', 'dist--computer1/loop/domainLoopback-swap.img'])
    expect(await filesUnder(join(dir, 'lvm-1', 'vg0'))).toEqual(['domainLVM-disk', 'domainLVM-swap'])
    expect(await filesUnder(join(dir, 'lvm-2', 'vg0'))).toEqual(['domainLVM-disk', 'domainLVM-swap'])
    const entry = await json<Pool[]>(0, ['status', '--local'])
    expect(entry.map(p => p.pool)).toEqual(['dist'])
    expect(entry[0]!.components.map(c => c.path)).toEqual(['', 'console'])

    // The whole pool, from every peer: 12 components, each on its host, all running.
    for (let i = 0; i < HOSTS.length; i++) {
      const st = await json<Pool>(i, ['status', 'dist'])
      expect(st.state).toBe('running')
      expect(st.components).toHaveLength(12)
      expect(st.components.every(c => c.state === 'running')).toBe(true)
      expect(st.components.filter(c => c.type === 'XenDomain').map(c => `${c.path}@${c.host}`)).toEqual([
        'computer1:domain1@machine9.cern.ch', 'computer1:domain2@machine9.cern.ch', 'computer2:domain2@machine10.cern.ch'
      ])
      const all = await json<Pool[]>(i, ['status'])
      expect(all.map(p => `${p.pool}=${p.state}`)).toEqual(['dist=running'])
    }
    // The registry reaches every peer: `ls` names the entry peer and the hosts.
    for (let i = 0; i < HOSTS.length; i++) {
      const ls = await waitFor('registry', async () => {
        const l = await json<Array<{ pool: string, state: string, entryHost?: string, hosts: string[], scope: string }>>(i, ['ls'])
        return l[0]?.state === 'running' ? l : undefined
      })
      expect(ls).toEqual([expect.objectContaining({ pool: 'dist', state: 'running', entryHost: 'entry.cern.ch', scope: 'mesh', hosts: ['entry.cern.ch', 'machine9.cern.ch', 'machine10.cern.ch'] })])
    }
    // get and set reach the owner of the component from any peer.
    expect((await cluster.cli(2, ['get', 'dist:computer1:domain1', 'hostname'])).stdout).toBe('"machine9-dom1"\n')
    const set = await cluster.cli(0, ['set', 'dist:computer2:domain2', 'saveImage', 'false'])
    expect(set.stderr).toBe('')
    expect((await cluster.cli(1, ['get', 'dist:computer2:domain2', 'saveImage'])).stdout).toBe('false\n')

    // Terminated from machine10 (neither the entry peer nor machine9): everything goes, everywhere.
    const term = await cluster.cli(2, ['terminate', 'dist', '--json'])
    expect(term.stderr).toBe('')
    expect(term.code).toBe(0)
    expect(JSON.parse(term.stdout).state).toBe('terminated')
    for (let i = 0; i < HOSTS.length; i++) expect(await leftOn(i)).toEqual(NOTHING)
    expect(await json<Pool[]>(1, ['status'])).toEqual([])
  }, 60_000)

  it('a deploy naming a host nobody answers to is refused before anything starts, in one line naming it', async () => {
    const dep = await cluster.cli(0, ['deploy', join(dir, 'unknown.sf'), '--name', 'lost', '--wait'])
    expect(dep.code).toBe(1)
    const lines = dep.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^sdpeer deploy: pool lost not deployed: .*computer2:sfProcessHost.*machine11\.cern\.ch/)
    for (let i = 0; i < HOSTS.length; i++) expect(await leftOn(i)).toEqual(NOTHING)
  }, 30_000)

  it('a deploy whose second host refuses (no capacity) is aborted everywhere, naming the host', async () => {
    const dep = await cluster.cli(0, ['deploy', join(dir, 'toobig.sf'), '--name', 'big', '--wait'])
    expect(dep.code).toBe(1)
    const lines = dep.stderr.trim().split('\n')
    expect(lines).toHaveLength(1)
    expect(lines[0]).toMatch(/^sdpeer deploy: pool big not deployed: .*machine10\.cern\.ch \(12D3Koo\w+\) prepare refused: .*no capacity/)
    for (let i = 0; i < HOSTS.length; i++) expect(await leftOn(i)).toEqual(NOTHING)
    // The failure is recorded in the mesh's registry, not left as a pool anywhere.
    const ls = await json<Array<{ pool: string, state: string }>>(1, ['ls'])
    expect(ls.find(p => p.pool === 'big')?.state).toBe('failed')
    expect(await json<Pool[]>(1, ['status'])).toEqual([])
  }, 30_000)

  it('refuses an unsigned deploy, one signed by an unknown key, and a part reaching outside --allow-path: nothing anywhere', async () => {
    // No operator key at all: the entry peer's gate refuses before anything is split or sent.
    const unsigned = await sdpeer(cluster.daemon(0).api, ['deploy', dist, '--name', 'nosig', '--wait'])
    expect(unsigned.code).toBe(1)
    expect(unsigned.stderr).toMatch(/^sdpeer deploy: pool nosig not deployed: deploy nosig refused: .*signature/)
    // A key no trust store names.
    const stranger = await createOperatorKey(join(dir, 'stranger', 'operator.key'))
    const err: string[] = []
    const code = await main(['deploy', dist, '--name', 'stranger', '--wait'], {
      stdout: new Writable({ write (_c, _e, cb) { cb() } }),
      stderr: new Writable({ write (c, _e, cb) { err.push(String(c)); cb() } }),
      env: { SDPEER_API: cluster.daemon(0).api, SDPEER_OPERATOR_KEY: stranger.file },
      cwd: process.cwd()
    })
    expect(code).toBe(1)
    expect(err.join('')).toMatch(/refused: .*(unknown|not trusted|trust)/i)
    // Signed and valid, but computer2's baseImage is /etc/shadow: machine10's policy refuses at prepare.
    const shadow = await cluster.cli(0, ['deploy', join(dir, 'shadow.sf'), '--name', 'shadow', '--wait'])
    expect(shadow.code).toBe(1)
    expect(shadow.stderr.trim().split('\n')).toHaveLength(1)
    expect(shadow.stderr).toMatch(/machine10\.cern\.ch \(12D3Koo\w+\) prepare refused: .*computer2:lvm baseImage "\/etc\/shadow"/)
    for (let i = 0; i < HOSTS.length; i++) expect(await leftOn(i)).toEqual(NOTHING)
  }, 30_000)
})
