import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, truncate } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { QemuDriver } from '../../node/drivers/qemu/index.ts'
import type { DomainHandle, DomainSpec } from '../../node/drivers/types.ts'
import { ensureGuest, waitForLine } from '../../simulations/guest/guest.ts'
import type { TestGuest } from '../../simulations/guest/guest.ts'

// Real guests under qemu (TCG: KVM hangs on the CI machine): boot, ready line, status page through the forwarded
// port, a file written to the guest's disk, graceful power-off, a qemu killed from outside, re-attachment by a new
// driver instance and by a new process.

let guest: TestGuest
let stateDir: string
const cleanup: Array<() => Promise<void>> = []

beforeAll(async () => {
  guest = await ensureGuest()
  stateDir = await mkdtemp(join(tmpdir(), 'sdpeer-qemu-'))
}, 300_000)
afterAll(async () => {
  for (const fn of cleanup.reverse()) await fn().catch(() => {})
  await rm(stateDir, { recursive: true, force: true })
})

const freePort = async (): Promise<number> => await new Promise((resolve, reject) => {
  const server = createServer()
  server.once('error', reject)
  server.listen(0, '127.0.0.1', () => {
    const address = server.address()
    server.close(() => typeof address === 'object' && address !== null ? resolve(address.port) : reject(new Error('no port')))
  })
})

const spec = (name: string, extra: Partial<DomainSpec> = {}): DomainSpec => ({
  name, memoryMiB: 128, vcpus: 1, kernel: guest.kernel, ramdisk: guest.initrd, hostname: `${name}-host`, extra: 'quiet', disks: [], options: {}, ...extra
})

const driver = (): QemuDriver => new QemuDriver({ stateDir, accel: 'tcg' })
const serial = (d: QemuDriver, name: string) => async () => await readFile(d.paths(name).serialLog, 'utf8')
const track = (d: QemuDriver, h: DomainHandle): DomainHandle => { cleanup.push(async () => await d.destroy(h)); return h }

describe('qemu driver with the test guest', () => {
  it('boots a guest with a disk, serves its page on the forwarded port, writes its disk and powers off gracefully', async () => {
    const disk = join(stateDir, 'g1.img')
    await truncate(disk, 0).catch(() => {})
    await execa('truncate', ['-s', '32M', disk])
    await execa('mkfs.ext4', ['-q', '-F', disk])
    const port = await freePort()
    const d = driver()
    const t0 = performance.now()
    const h = track(d, await d.start(spec('g1', {
      ip: '10.9.0.5', netmask: '255.255.255.0', gateway: '10.9.0.1', extra: 'quiet sdpeer.write=/etc/sdpeer-proof:written-by-g1',
      disks: [{ path: disk, format: 'raw', target: 'vda', role: 'root' }], options: { forwardPort: port }
    })))
    expect((await d.status(h)).state).toBe('running')
    const ready = await waitForLine(serial(d, 'g1'), /SDPEER-GUEST-READY/, 60_000)
    console.log(`g1 ready after ${Math.round(performance.now() - t0)} ms: ${ready}`)
    expect(ready).toContain('hostname=g1-host')
    expect(ready).toContain('ip=10.9.0.5')
    expect(ready).toContain('disk=/dev/vda')
    const page = await (await fetch(`http://127.0.0.1:${port}/`)).text()
    expect(page).toContain('hostname=g1-host')

    const t1 = performance.now()
    await d.shutdown(h, 20_000)
    const took = performance.now() - t1
    console.log(`g1 graceful shutdown took ${Math.round(took)} ms`)
    expect(took).toBeLessThan(15_000) // the guest powered itself off: no 20 s timeout, no quit
    expect(await serial(d, 'g1')()).toContain('SDPEER-GUEST-POWEROFF hostname=g1-host')
    expect(await d.list()).not.toContain('g1')
    expect(['stopped', 'missing']).toContain((await d.status(h)).state)
    // The guest unmounted its disk before powering off: the file it wrote is on the image.
    const { stdout } = await promisify(execFile)('debugfs', ['-R', 'cat /etc/sdpeer-proof', disk])
    expect(stdout.trim()).toBe('written-by-g1')
  }, 90_000)

  it('runs two guests at once on qcow2 overlays of one base image, each with its own page and its own writes', async () => {
    const base = join(stateDir, 'base.img')
    await execa('truncate', ['-s', '32M', base])
    await execa('mkfs.ext4', ['-q', '-F', base])
    const d = driver()
    const guests = await Promise.all(['o1', 'o2'].map(async name => {
      const overlay = join(stateDir, `${name}.qcow2`)
      await execa('qemu-img', ['create', '-q', '-f', 'qcow2', '-b', base, '-F', 'raw', overlay])
      const port = await freePort()
      const h = track(d, await d.start(spec(name, {
        extra: `quiet sdpeer.write=/who:${name}`, disks: [{ path: overlay, format: 'qcow2', target: 'vda', role: 'root' }], options: { forwardPort: port }
      })))
      return { name, overlay, port, h }
    }))
    for (const g of guests) {
      await waitForLine(serial(d, g.name), new RegExp(`SDPEER-GUEST-READY hostname=${g.name}-host .*disk=/dev/vda`), 60_000)
      expect(await (await fetch(`http://127.0.0.1:${g.port}/`)).text()).toContain(`hostname=${g.name}-host`)
    }
    expect(await d.list()).toEqual(['o1', 'o2'])
    await Promise.all(guests.map(async g => await d.shutdown(g.h, 20_000)))
    for (const g of guests) {
      expect(await serial(d, g.name)()).toContain('SDPEER-GUEST-POWEROFF')
      const raw = join(stateDir, `${g.name}.raw`)
      await execa('qemu-img', ['convert', '-O', 'raw', g.overlay, raw])
      const { stdout } = await promisify(execFile)('debugfs', ['-R', 'cat /who', raw])
      expect(stdout.trim()).toBe(g.name)
    }
    // The base image stayed as it was: the writes went to the overlays.
    const { stdout: baseWho } = await promisify(execFile)('debugfs', ['-R', 'cat /who', base])
    expect(baseWho.trim()).toBe('')
  }, 120_000)

  it('reports a guest whose qemu was killed from outside as crashed, with the signal and the log tail', async () => {
    const d = driver()
    const h = track(d, await d.start(spec('g2')))
    await waitForLine(serial(d, 'g2'), /SDPEER-GUEST-READY/, 60_000)
    // QEMU serves one QMP client at a time: concurrent status calls, from this instance and another, all get through.
    const second = driver()
    const states = await Promise.all(Array.from({ length: 12 }, (_, i) => (i % 3 === 0 ? second : d).status(h)))
    expect(states.map(s => s.state)).toEqual(Array(12).fill('running'))
    process.kill(h.data.pid as number, 'SIGKILL')
    let status = await d.status(h)
    for (let i = 0; i < 100 && status.state !== 'crashed'; i++) {
      await new Promise(r => setTimeout(r, 20))
      status = await d.status(h)
    }
    expect(status.state).toBe('crashed')
    expect(status.reason).toContain('killed by SIGKILL')
    expect(status.reason).toContain('SDPEER-GUEST-READY hostname=g2-host')
    // A new daemon reads the exit status its predecessor saved when qemu died.
    const other = driver()
    const recovered = await other.recover(JSON.parse(JSON.stringify(h)) as DomainHandle)
    expect(recovered.state).toBe('crashed')
    expect(recovered.reason).toContain('killed by SIGKILL')
    expect(await other.list()).not.toContain('g2')
    await other.destroy(h)
    expect((await other.status(h)).state).toBe('missing')
  }, 90_000)

  it('reports a guest whose kernel panicked as crashed (pvpanic), with the console tail', async () => {
    const d = driver()
    const h = track(d, await d.start(spec('p1', { extra: 'quiet sdpeer.panic' })))
    await waitForLine(serial(d, 'p1'), /SDPEER-GUEST-PANIC/, 60_000)
    let status = await d.status(h)
    for (let i = 0; i < 200 && status.state !== 'crashed'; i++) {
      await new Promise(r => setTimeout(r, 50))
      status = await d.status(h)
    }
    expect(status.state).toBe('crashed')
    expect(status.reason).toContain('the guest kernel panicked (QMP status guest-panicked)')
    expect(status.reason).toContain('Kernel panic - not syncing: sysrq triggered crash')
    expect(await d.list()).toContain('p1') // qemu is still there, paused, until the engine destroys it
    await d.destroy(h)
    expect(await d.list()).not.toContain('p1')
  }, 90_000)

  it('a guest outlives the process that started it; a new driver re-attaches and powers it off', async () => {
    const port = await freePort()
    const child = await execa('npx', ['node', 'simulations/guest/start-one.ts', stateDir, 'g3', String(port)], { cwd: join(import.meta.dirname, '../..') })
    const h = JSON.parse(child.stdout.trim().split('\n').pop() ?? '') as DomainHandle
    const d = driver()
    track(d, h)
    expect((await d.recover(h)).state).toBe('running')
    expect(await d.list()).toContain('g3')
    await waitForLine(serial(d, 'g3'), /SDPEER-GUEST-READY hostname=g3/, 60_000)
    expect(await (await fetch(`http://127.0.0.1:${port}/`)).text()).toContain('hostname=g3')
    await d.shutdown(h, 20_000)
    expect(await serial(d, 'g3')()).toContain('SDPEER-GUEST-POWEROFF')
    expect(await d.list()).not.toContain('g3')
  }, 90_000)
})
