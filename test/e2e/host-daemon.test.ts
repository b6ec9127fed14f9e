import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { execFileSync } from 'node:child_process'
import net from 'node:net'
import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { DaemonProcess } from './harness.ts'
import { filesUnder, sdpeer, sdpeerProcess, startDaemon } from './harness.ts'

// One host, end to end: a real `sdpeer join` process with the sim driver, loopback storage in a temp dir filled from a
// tiny base image made here (and a cow overlay over a raw image), driven by the CLI. What must hold: the pool runs with the component paths of the
// tutorial, runtime `set` acts at termination, terminate and failed deploys leave no file, and a daemon killed with
// SIGKILL is replaced by one that finds the pool running.

let root: string
let baseImage: string
let rawImage: string
const daemons: DaemonProcess[] = []

function poolText (opts: { saved: string, domain?: string }): string {
  return `#include "org/smartfrog/components.sf"
#include "ch/cern/openlab/smartdomains/components.sf"
#include "org/smartfrog/services/shellscript/components.sf"

DefaultXenDomain extends XenDomain {
    shell LAZY ATTRIB myShell;
    kernel "/boot/vmlinuz-2.6-xen";
    gateway "10.0.0.1";
    netmask "255.255.0.0";
    memory 64;
}

sfConfig extends Compound {
    sfSyncTerminate true;
    myShell extends BashShell;
    loop extends LoopbackStorageBackend {
        shell LAZY ATTRIB myShell;
        domainName "domainLoopback";
        baseImage ${JSON.stringify(baseImage)};
        volumeSize "16M";
        swapSize "4M";
        saveImagePath ${JSON.stringify(opts.saved)};
        saveImageName "dom1";
    }
    domain1 extends DefaultXenDomain {
        ip "10.0.9.1";
        hostname "machine9-dom1";
        storageBackend LAZY ATTRIB loop;
        ${opts.domain ?? ''}
    }
    cow extends CowStorageBackend {
        shell LAZY ATTRIB myShell;
        domainName "domainCow";
        baseImage ${JSON.stringify(rawImage)};
        swapSize 0;
    }
    domain2 extends DefaultXenDomain {
        ip "10.0.9.2";
        hostname "machine9-dom2";
        storageBackend LAZY ATTRIB cow;
    }
}
`
}

async function newHost (name: string): Promise<{ stateDir: string, saved: string, pool: string, failing: string, slow: string }> {
  const dir = await mkdtemp(join(root, `${name}-`))
  const stateDir = join(dir, 'state')
  const saved = join(dir, 'saved')
  await writeFile(join(dir, 'pool.sf'), poolText({ saved }))
  await writeFile(join(dir, 'failing.sf'), poolText({ saved, domain: 'simStartFail "no hypervisor today";' }))
  await writeFile(join(dir, 'slow.sf'), poolText({ saved, domain: 'simBootMs 60000;' }))
  return { stateDir, saved, pool: join(dir, 'pool.sf'), failing: join(dir, 'failing.sf'), slow: join(dir, 'slow.sf') }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'sdpeer-e2e-'))
  const img = join(root, 'image')
  await mkdir(join(img, 'etc'), { recursive: true })
  await writeFile(join(img, 'etc', 'motd'), 'built by the e2e test\n')
  baseImage = join(root, 'base.tar.gz')
  execFileSync('tar', ['-C', img, '-czf', baseImage, '.'])
  // The cow backend's read-only base: a raw ext4 image of the same tree.
  rawImage = join(root, 'base.img')
  execFileSync('truncate', ['-s', '8M', rawImage])
  execFileSync('mkfs.ext4', ['-F', '-q', '-d', img, rawImage])
})

afterEach(async () => {
  for (const d of daemons.splice(0)) {
    if (d.proc.exitCode === null && d.proc.signalCode === null) { d.proc.kill('SIGKILL'); await d.exited }
  }
})

afterAll(async () => { await rm(root, { recursive: true, force: true }) })

/** Domains the sim hypervisor holds (its table in the state dir), sorted. */
async function simDomains (stateDir: string): Promise<string[]> {
  const text = await readFile(join(stateDir, 'sim-domains.json'), 'utf8').catch(() => '{"domains":[]}')
  return (JSON.parse(text) as { domains: Array<{ name: string }> }).domains.map(x => x.name).sort()
}

async function daemon (stateDir: string, extra: string[] = []): Promise<DaemonProcess> {
  const d = await startDaemon('machine9', stateDir, extra)
  daemons.push(d)
  return d
}

describe('sdpeer host daemon, end to end', () => {
  it('deploys the tutorial pool, reports it running, saves the image on request and leaves no file behind', async () => {
    const h = await newHost('run')
    const d = await daemon(h.stateDir)
    const dep = await sdpeer(d.api, ['deploy', h.pool, '--name', 'web', '--wait'])
    expect(dep.stderr).toBe('')
    expect(dep.code).toBe(0)
    expect(dep.stdout).toMatch(/domain1\s+running/)

    const st = await sdpeer(d.api, ['status', 'web', '--json'])
    expect(st.code).toBe(0)
    const status = JSON.parse(st.stdout)
    expect(Object.keys(status)).toEqual(['pool', 'state', 'components'])
    expect(status.pool).toBe('web')
    expect(status.state).toBe('running')
    expect(status.components.map((c: { path: string }) => c.path)).toEqual(['', 'myShell', 'loop', 'domain1', 'cow', 'domain2'])
    for (const c of status.components) {
      expect(c).toMatchObject({ host: 'machine9', state: 'running' })
      expect(Object.keys(c).sort()).toEqual(['host', 'path', 'state', 'type'])
    }
    expect(status.components.find((c: { path: string }) => c.path === 'domain1').type).toBe('XenDomain')
    expect(await filesUnder(join(h.stateDir, 'storage'))).not.toEqual([])

    const all = await sdpeer(d.api, ['status', '--json'])
    expect(JSON.parse(all.stdout)).toEqual([status])
    expect((await sdpeer(d.api, ['get', 'web:domain1', 'memory'])).stdout).toBe('64\n')
    expect((await sdpeer(d.api, ['get', 'web:domain1', 'hostname'])).stdout).toBe('"machine9-dom1"\n')
    const logs = await sdpeer(d.api, ['logs', 'web:myShell'])
    expect(logs.code).toBe(0)
    expect(logs.stdout).toMatch(/mkfs\.ext4 .*domainLoopback-disk\.img/)

    // Issue 3's words: `sdpeer set ... saveImage true` on a running VM. Set on the XenDomain, it applies to the VM's
    // storage backend at termination; the backend's own saveImagePath/saveImageName (from the description) still count.
    const set = await sdpeer(d.api, ['set', 'web:domain1', 'saveImage', 'true'])
    expect(set.stderr).toBe('')
    expect(set.code).toBe(0)
    expect((await sdpeer(d.api, ['get', 'web:domain1', 'saveImage'])).stdout).toBe('true\n')
    // The cow VM: every saveImage* attribute on the VM itself.
    for (const [attr, value] of [['saveImage', 'true'], ['saveImagePath', JSON.stringify(h.saved)], ['saveImageName', '"dom2"'], ['saveImageExtension', '"tar"']]) {
      const r = await sdpeer(d.api, ['set', 'web:domain2', attr!, value!])
      expect(r.stderr).toBe('')
      expect(r.code).toBe(0)
    }
    const unsafe = await sdpeer(d.api, ['set', 'web:domain2', 'saveImageName', '"../escape"'])
    expect(unsafe.code).toBe(1)
    expect(unsafe.stderr).toMatch(/saveImageName/)
    const wrong = await sdpeer(d.api, ['set', 'web:domain1', 'memory', '"lots"'])
    expect(wrong.code).toBe(1)

    // logs --follow streams the VM's lines until the VM is terminated, then returns by itself.
    const watch = { stdout: () => '' }
    const follow = sdpeer(d.api, ['logs', 'web:domain1', '--follow'], process.cwd(), watch)
    for (let i = 0; i < 400 && !watch.stdout().includes('started'); i++) await new Promise(resolve => setTimeout(resolve, 10))
    const term = await sdpeer(d.api, ['terminate', 'web', '--json'])
    const followed = await follow
    expect(followed.code).toBe(0)
    expect(followed.stdout).toContain('domain domainLoopback started')
    expect(followed.stdout).toContain('domain domainLoopback shut down')
    expect(term.stderr).toBe('')
    expect(term.code).toBe(0)
    expect(JSON.parse(term.stdout).state).toBe('terminated')
    expect((await stat(join(h.saved, 'dom1.tar.gz'))).size).toBeGreaterThan(0)
    const listing = execFileSync('tar', ['-tzf', join(h.saved, 'dom1.tar.gz')], { encoding: 'utf8' })
    expect(listing).toContain('etc/motd')
    expect(execFileSync('tar', ['-tf', join(h.saved, 'dom2.tar')], { encoding: 'utf8' })).toContain('etc/motd')
    expect((await readdir(h.saved)).sort()).toEqual(['dom1.tar.gz', 'dom2.tar'])
    expect(await filesUnder(join(h.stateDir, 'storage'))).toEqual([])
    expect(await filesUnder(join(h.stateDir, 'pools'))).toEqual([])
    expect(await simDomains(h.stateDir)).toEqual([])
    expect(JSON.parse((await sdpeer(d.api, ['status', '--json'])).stdout)).toEqual([])
  })

  it('refuses a pool whose domain fails to start and leaves nothing behind', async () => {
    const h = await newHost('fail')
    const d = await daemon(h.stateDir)
    const dep = await sdpeer(d.api, ['deploy', h.failing, '--name', 'bad', '--wait'])
    expect(dep.code).toBe(1)
    expect(dep.stderr).toContain('no hypervisor today')
    expect(JSON.parse((await sdpeer(d.api, ['status', '--json'])).stdout)).toEqual([])
    expect(await filesUnder(join(h.stateDir, 'storage'))).toEqual([])
    expect(await filesUnder(join(h.stateDir, 'pools'))).toEqual([])
    expect(await simDomains(h.stateDir)).toEqual([])
    expect(await filesUnder(h.saved)).toEqual([])
  })

  it('a deploy without --wait that fails later stays in status as failed, with the reason, until terminated', async () => {
    const h = await newHost('nowait')
    const d = await daemon(h.stateDir)
    const dep = await sdpeer(d.api, ['deploy', h.failing, '--name', 'bad'])
    expect(dep.code).toBe(0)
    let status: { state: string, components: Array<{ path: string, state: string, reason?: string }> } | undefined
    for (let i = 0; i < 600; i++) {
      const st = await sdpeer(d.api, ['status', 'bad', '--json'])
      expect(st.code).toBe(0)
      status = JSON.parse(st.stdout)
      if (status!.state === 'failed') break
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    expect(status!.state).toBe('failed')
    expect(status!.components.find(c => c.path === 'domain1')).toMatchObject({ state: 'failed' })
    expect(status!.components.find(c => c.path === 'domain1')!.reason).toContain('no hypervisor today')
    const text = await sdpeer(d.api, ['status', 'bad'])
    expect(text.stdout).toContain('no hypervisor today')
    // Rolled back: nothing of it is left on the host.
    expect(await filesUnder(join(h.stateDir, 'storage'))).toEqual([])
    expect(await filesUnder(join(h.stateDir, 'pools'))).toEqual([])
    expect(await simDomains(h.stateDir)).toEqual([])
    // The operator clears it; then it is gone.
    // (exit 1: `sdpeer terminate` reports a pool that did not end `terminated`, and this one ended failed)
    const term = await sdpeer(d.api, ['terminate', 'bad', '--json'])
    expect(JSON.parse(term.stdout).state).toBe('failed')
    expect(JSON.parse((await sdpeer(d.api, ['status', '--json'])).stdout)).toEqual([])
  })

  it('honours --capacity: a pool larger than the host is refused and rolled back', async () => {
    const h = await newHost('cap')
    // Room for one 64 MiB domain, not two.
    const d = await daemon(h.stateDir, ['--capacity', 'memory=100,vcpus=4'])
    const dep = await sdpeer(d.api, ['deploy', h.pool, '--name', 'web', '--wait'])
    expect(dep.code).toBe(1)
    expect(dep.stderr).toContain('insufficient capacity')
    expect(await filesUnder(join(h.stateDir, 'storage'))).toEqual([])
    expect(await simDomains(h.stateDir)).toEqual([])
  })

  it('sends nothing when the description has errors', async () => {
    const h = await newHost('diag')
    const d = await daemon(h.stateDir)
    const broken = join(h.stateDir, '..', 'broken.sf')
    await writeFile(broken, 'sfConfig extends Compound {\n  x 1\n}\n')
    const dep = await sdpeer(d.api, ['deploy', broken, '--name', 'x', '--wait'])
    expect(dep.code).toBe(1)
    expect(dep.stderr).toMatch(/broken\.sf:\d+:\d+: error SF\d{4}/)
    expect(JSON.parse((await sdpeer(d.api, ['status', '--json'])).stdout)).toEqual([])
  })

  it('survives SIGKILL: a new daemon on the same state dir finds the pool running and terminates it', async () => {
    const h = await newHost('kill')
    const first = await daemon(h.stateDir)
    expect((await sdpeer(first.api, ['deploy', h.pool, '--name', 'web', '--wait'])).code).toBe(0)
    first.proc.kill('SIGKILL')
    expect(await first.exited).toBe('SIGKILL')

    const second = await daemon(h.stateDir)
    const status = JSON.parse((await sdpeer(second.api, ['status', 'web', '--json'])).stdout)
    expect(status.state).toBe('running')
    // Re-attached, not started again: the sim hypervisor still holds exactly one domain.
    expect(await simDomains(h.stateDir)).toEqual(['domainCow', 'domainLoopback'])
    expect(status.components.map((c: { path: string, state: string }) => `${c.path}=${c.state}`))
      .toEqual(['=running', 'myShell=running', 'loop=running', 'domain1=running', 'cow=running', 'domain2=running'])
    const term = await sdpeer(second.api, ['terminate', 'web'])
    expect(term.code).toBe(0)
    expect(await filesUnder(join(h.stateDir, 'storage'))).toEqual([])
  })

  it('after SIGKILL in the middle of a deploy, the next daemon terminates the half-deployed pool and leaves nothing', async () => {
    const h = await newHost('half')
    const first = await daemon(h.stateDir)
    // domain1 takes a minute to boot: the kill lands after its storage exists and before it runs.
    expect((await sdpeer(first.api, ['deploy', h.slow, '--name', 'web'])).code).toBe(0)
    for (let i = 0; i < 400; i++) {
      const st = JSON.parse((await sdpeer(first.api, ['status', 'web', '--json'])).stdout) as { components: Array<{ path: string, state: string }> }
      if (st.components.find(c => c.path === 'loop')?.state === 'running') break
      await new Promise(resolve => setTimeout(resolve, 25))
    }
    expect(await filesUnder(join(h.stateDir, 'storage'))).not.toEqual([])
    first.proc.kill('SIGKILL')
    await first.exited

    const second = await daemon(h.stateDir)
    const left = JSON.parse((await sdpeer(second.api, ['status', '--json'])).stdout) as Array<{ state: string }>
    expect(left.every(p => p.state === 'terminated' || p.state === 'failed')).toBe(true)
    expect(await filesUnder(join(h.stateDir, 'storage'))).toEqual([])
    expect(await filesUnder(join(h.stateDir, 'pools'))).toEqual([])
    // The half-started domain (no handle saved yet) is destroyed by name on recovery: nothing is left running.
    expect(await simDomains(h.stateDir)).toEqual([])
  })

  it('stops on SIGTERM without terminating pools, and refuses a second daemon while one runs', async () => {
    const h = await newHost('term')
    const first = await daemon(h.stateDir)
    // Without --wait the CLI returns once the daemon took the pool; the deploy goes on there.
    const dep = await sdpeer(first.api, ['deploy', h.pool, '--name', 'web'])
    expect(dep.code).toBe(0)
    expect(dep.stdout).toContain('pool web accepted')
    for (let i = 0; i < 200; i++) {
      const st = JSON.parse((await sdpeer(first.api, ['status', '--json'])).stdout) as Array<{ state: string }>
      if (st[0]?.state === 'running') break
      await new Promise(resolve => setTimeout(resolve, 25))
    }
    expect(JSON.parse((await sdpeer(first.api, ['status', 'web', '--json'])).stdout).state).toBe('running')

    const dup = await sdpeerProcess(['join', '--host', 'machine9', '--state-dir', h.stateDir, '--driver', 'sim'])
    expect(dup.code).toBe(1)
    expect(dup.stderr).toContain('StateDirError')
    expect((await sdpeer(first.api, ['status', 'web'])).code).toBe(0)

    first.proc.kill('SIGTERM')
    expect(await first.exited).toBe(0)
    await expect(stat(first.api)).rejects.toMatchObject({ code: 'ENOENT' })
    expect(await filesUnder(join(h.stateDir, 'storage'))).not.toEqual([])

    const second = await daemon(h.stateDir)
    expect(JSON.parse((await sdpeer(second.api, ['status', 'web', '--json'])).stdout).state).toBe('running')
    expect((await sdpeer(second.api, ['terminate', 'web'])).code).toBe(0)
    expect(await filesUnder(join(h.stateDir, 'storage'))).toEqual([])
  })

  it('shrugs off a hostile client: an oversized frame closes only that connection', async () => {
    const h = await newHost('hostile')
    const d = await daemon(h.stateDir)
    const s = net.connect(d.api)
    await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject) })
    s.on('error', () => {})
    let answer = ''
    s.on('data', c => { answer += c.subarray(4).toString() })
    const closed = new Promise<void>(resolve => s.once('close', () => { resolve() }))
    const header = Buffer.alloc(4)
    header.writeUInt32BE(0xffffffff)
    s.write(Buffer.concat([header, Buffer.alloc(1024, 0x7b)]))
    await closed
    expect(JSON.parse(answer)).toMatchObject({ id: null, type: 'error', error: { name: 'FrameTooLargeError' } })
    expect((await sdpeer(d.api, ['status'])).stdout).toBe('no pools\n')
    expect(d.proc.exitCode).toBeNull()
  })

  it('says clearly that no daemon runs, with exit 1, from the real binary', async () => {
    const r = await sdpeerProcess(['status'], { SDPEER_API: join(root, 'nobody.sock') })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('no sdpeer daemon at')
    const none = await sdpeerProcess(['status'])
    expect(none.code).toBe(2)
    expect(none.stderr).toContain('SDPEER_API')
  })
})
