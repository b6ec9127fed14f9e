import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createEngineHandler } from '../../node/api/engine-handler.ts'
import type { MeshRouter } from '../../node/api/engine-handler.ts'
import { ApiServer } from '../../node/api/server.ts'
import { checkFile } from '../../node/sf/index.ts'
import { FakeEngine } from '../api/fake-engine.ts'
import { sdpeer } from './harness.ts'

// `sdpeer estimate` and `sdpeer query` through cli/main.ts, on real files; and against a real control API server
// (a daemon's handler over a fake engine): op query over no pools answers nothing.

const DISPATCH = fileURLToPath(new URL('../../examples/scheduler/dispatch.sf', import.meta.url))
let dir: string
let server: ApiServer
let sock: string
let meshServer: ApiServer
let meshSock: string

const host = (name: string, freeMb: number, o: Record<string, unknown> = {}): Record<string, unknown> =>
  ({ hostNames: [name], capacity: { memoryMb: 8192, vcpus: 8 }, load: { memoryMb: 8192 - freeMb, vcpus: 0, domains: 0 }, driver: 'xen', ...o })

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sdpeer-sched-cli-'))
  sock = join(dir, 'api.sock')
  server = new ApiServer({ path: sock, handler: createEngineHandler(new FakeEngine(), { host: 'h', driver: 'sim', version: 't' }) })
  await server.listen()
  // A daemon with a mesh, as far as op "hosts" goes: the handler's MeshRouter answers what node.hosts() would.
  const views = [host('host1', 8192, { peerId: 'P1', addrs: [], state: 'self', misbehaviour: 0 }), host('host2', 1024, { peerId: 'P2', addrs: [], state: 'alive', misbehaviour: 0 }),
    { peerId: 'P9', hostNames: [], addrs: [], state: 'alive', misbehaviour: 0 }]
  const router = {
    hosts: () => ({ self: { peerId: 'P1', host: 'host1', addrs: [], insecure: true }, hosts: views, conflicts: [] })
  } as unknown as MeshRouter
  meshSock = join(dir, 'mesh.sock')
  meshServer = new ApiServer({ path: meshSock, handler: createEngineHandler(new FakeEngine(), { host: 'host1', driver: 'sim', version: 't' }, undefined, router) })
  await meshServer.listen()
})
afterAll(async () => { await server.close(); await meshServer.close(); await rm(dir, { recursive: true, force: true }) })

describe('sdpeer estimate', () => {
  it('prints where each VM of dispatch.sf would go and its cost on every candidate, from a hosts file', async () => {
    const f = join(dir, 'hosts.json')
    await writeFile(f, JSON.stringify([host('host1', 8192), host('host2', 2048), host('host3', 4096, { state: 'dead' }), host('host4', 8192)]))
    const r = await sdpeer(sock, ['estimate', DISPATCH, '--hosts-file', f])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    // Four VMs, each with its chosen host starred among host1 and host2 (host3 is dead, host4 not named).
    expect(r.stdout.match(/^VMs2Dispatch:unique2\d "worker-\d" \(\d+ MiB, 1 vcpu\) -> host[12]$/gm)).toHaveLength(4)
    expect(r.stdout).toMatch(/VMs2Dispatch:unique26 "worker-3" \(1024 MiB, 1 vcpu\) -> host1\n {2}\* host1 +cost +12\.50 +\(share after 13%, no base image\)\n {4}host2 +cost +87\.50/)
    expect(r.stdout).not.toMatch(/host[34]/)

    const j = await sdpeer(sock, ['estimate', DISPATCH, '--hosts-file', f, '--json', '--pool', 'dispatch'])
    const out = JSON.parse(j.stdout) as { pool: string, vms: Array<{ path: string, host: string, candidates: Array<{ host: string, cost: number }> }> }
    expect(out.pool).toBe('dispatch')
    expect(out.vms.map(v => v.path)).toEqual(['VMs2Dispatch:unique24', 'VMs2Dispatch:unique25', 'VMs2Dispatch:unique26', 'VMs2Dispatch:unique27'])
    for (const v of out.vms) expect(v.candidates.map(c => c.host).sort()).toEqual(['host1', 'host2'])
  })

  it('exits 1 and names the failed constraint and host when a VM fits nowhere; counts copy time for uncached images', async () => {
    const f = join(dir, 'small.json')
    await writeFile(f, JSON.stringify([host('host1', 768), host('host2', 600), host('host3', 512)]))
    const r = await sdpeer(sock, ['estimate', DISPATCH, '--hosts-file', f])
    expect(r.code).toBe(1)
    expect(r.stdout).toContain('VMs2Dispatch:unique26 "worker-3" (1024 MiB, 1 vcpu): NO HOST FITS\n    memory: needs 1024 MiB, best host host1 has 768 free (3 hosts)')
    expect(r.stderr).toMatch(/^\d VMs? fits? no host\n$/)

    const sf = join(dir, 'img.sf')
    await writeFile(sf, `#include "org/smartfrog/components.sf"
#include "ch/cern/openlab/smartdomains/components.sf"
sfConfig extends Compound {
    sched extends Scheduler { hosts [|"host1", "host2", "host3"|]; }
    workers extends Schedulee {
        scheduler LAZY ATTRIB sched;
        w1 extends XenDomain { kernel "/boot/vmlinuz"; ip "192.0.2.21"; hostname "w1"; memory 512; baseImage "slc3"; imageSizeMiB 2000; }
    }
}
`)
    const withImage = join(dir, 'img.json')
    await writeFile(withImage, JSON.stringify([host('host1', 8192), host('host2', 8192, { images: ['slc3'] }), host('host3', 8192)]))
    const j = await sdpeer(sock, ['estimate', sf, '--hosts-file', withImage, '--json'])
    expect(j.code).toBe(0)
    const vm5 = (JSON.parse(j.stdout) as { vms: Array<{ image?: string, host: string, candidates: Array<{ host: string, copy: number }> }> }).vms.find(v => v.image === 'slc3')
    expect(vm5?.host).toBe('host2')
    expect(vm5?.candidates.find(c => c.host === 'host1')?.copy).toBe(20)
    expect(vm5?.candidates.find(c => c.host === 'host2')?.copy).toBe(0)
  })

  it('refuses a malformed hosts file with the field; asks a daemon for its mesh view with --api', async () => {
    const f = join(dir, 'bad.json')
    await writeFile(f, JSON.stringify([host('host1', 100), { hostNames: ['x'], capacity: { memoryMb: -1, vcpus: 1 } }]))
    const bad = await sdpeer(sock, ['estimate', DISPATCH, '--hosts-file', f])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('[1].capacity.memoryMb: expected a non-negative number')
    const alone = await sdpeer(sock, ['estimate', DISPATCH, '--api', sock])
    expect(alone.code).toBe(1)
    expect(alone.stderr).toContain('knows no host with a capacity (is it running without a mesh?)')
    const api = await sdpeer(meshSock, ['estimate', DISPATCH, '--api', meshSock, '--json'])
    expect(api.stderr).toBe('')
    expect(api.code).toBe(0)
    const vms = (JSON.parse(api.stdout) as { vms: Array<{ host: string, candidates: Array<{ host: string }> }> }).vms
    // host2 has 1 GiB free: the 1 GiB VM goes to host1, and host2 is a candidate for the small ones.
    expect(vms.every(v => v.host === 'host1' || v.host === 'host2')).toBe(true)
    expect(vms[2]).toMatchObject({ host: 'host1' })
    expect(vms[0].candidates.map(c => c.host).sort()).toEqual(['host1', 'host2'])
    const none = await sdpeer('', ['estimate', DISPATCH])
    expect(none.code).toBe(2)
  })
})

describe('sdpeer query', () => {
  it('lists the matching VMs with host and state from a status file', async () => {
    const config = checkFile(DISPATCH).config
    const f = join(dir, 'status.json')
    await writeFile(f, JSON.stringify([
      { pool: 'dispatch', config, components: [{ path: 'VMs2Dispatch:unique26', type: 'XenDomain', host: 'host1', state: 'running' }, { path: 'VMs2Dispatch:unique24', type: 'XenDomain', host: 'host2', state: 'failed' }] },
      [{ pool: 'flat', path: 'a:vm', hostname: 'worker-9', memory: 4096, host: 'host7', state: 'running' }][0]
    ]))
    const r = await sdpeer(sock, ['query', 'memory >= 1024 && hostname ~ "worker-*"', '--status-file', f])
    expect(r.code).toBe(0)
    expect(r.stdout.split('\n').filter(Boolean).map(l => l.split(/\s+/))).toEqual([
      ['VM', 'HOSTNAME', 'MEMORY', 'HOST', 'STATE'],
      ['dispatch:VMs2Dispatch:unique26', 'worker-3', '1024', 'host1', 'running'],
      ['flat:a:vm', 'worker-9', '4096', 'host7', 'running']
    ])
    const j = await sdpeer(sock, ['query', 'state == "failed" || !(state ~ "r*")', '--status-file', f, '--json'])
    expect((JSON.parse(j.stdout) as Array<{ path: string, state: string }>).map(x => `${x.path}=${x.state}`))
      .toEqual(['VMs2Dispatch:unique24=failed', 'VMs2Dispatch:unique25=unknown', 'VMs2Dispatch:unique27=unknown'])
    const none = await sdpeer(sock, ['query', 'memory > 100000', '--status-file', f])
    expect(none).toMatchObject({ code: 0, stdout: '', stderr: 'no VM matches (5 examined)\n' })
  })

  it('shows where a query does not parse, from the CLI and from the daemon', async () => {
    const r = await sdpeer(sock, ['query', 'memory >= && x', '--status-file', '/nonexistent'])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('column 11')
    const api = await sdpeer(sock, ['query', 'memory > 1', '--api', sock, '--json'])
    expect(api).toMatchObject({ code: 0, stdout: '[]\n' })
  })
})
