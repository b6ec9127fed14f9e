import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { LibvirtDriver } from '../../node/drivers/libvirt/index.ts'
import type { DomainHandle, DomainSpec, DomainStatus } from '../../node/drivers/types.ts'
import { ensureGuest, waitForLine } from '../../simulations/guest/guest.ts'
import type { TestGuest } from '../../simulations/guest/guest.ts'
import { driverCompliance } from './compliance.ts'
import { startLibvirtd } from './libvirt-daemon.ts'
import type { LibvirtDaemon } from './libvirt-daemon.ts'

// The libvirt driver against a real libvirtd (a private session daemon this file starts, see libvirt-daemon.ts)
// with the QEMU driver in TCG (domain type 'qemu': KVM guests hang on the CI machine) and the tiny test guest.
// No libvirt here is a failure, not a skip: .ci/run installs it. The stand-in's contract test is libvirt.test.ts.
// 'plain' boots the guest (it powers off on the ACPI button); 'ignores-shutdown' has no kernel, so SeaBIOS idles and
// never answers the button; 'fails-start' names a kernel that does not exist, so qemu exits at once.

let guest: TestGuest
let daemon: LibvirtDaemon | undefined
let work: string
beforeAll(async () => {
  const t0 = performance.now()
  ;[guest, daemon] = await Promise.all([ensureGuest(), startLibvirtd()])
  work = await mkdtemp(join(tmpdir(), 'sdpeer-libvirt-real-'))
  console.log(`libvirt: private libvirtd answering on ${daemon.uri} after ${Math.round(performance.now() - t0)} ms`)
}, 300_000)
afterAll(async () => {
  await daemon?.stop()
  if (work !== undefined) await rm(work, { recursive: true, force: true })
}, 60_000)

const connect = (stateDir: string): LibvirtDriver => {
  if (daemon === undefined) throw new Error('libvirtd did not start (see beforeAll)')
  return new LibvirtDriver({ stateDir, uri: daemon.uri, virsh: daemon.virsh, domainType: 'qemu' })
}
const base = (name: string): DomainSpec => ({ name, memoryMiB: 96, vcpus: 1, disks: [], options: { network: 'none' } })
const booting = (name: string, extra = 'quiet'): DomainSpec => ({ ...base(name), kernel: guest.kernel, ramdisk: guest.initrd, hostname: name, extra })

driverCompliance('libvirt', connect, (name, variant) => {
  switch (variant) {
    case 'plain': return booting(name)
    case 'ignores-shutdown': return base(name)
    case 'fails-start': return { ...base(name), kernel: `/nonexistent/${name}/vmlinuz` }
  }
}, { startTimeoutMs: 20_000, shutdownTimeoutMs: 1_500 })

const until = async (d: LibvirtDriver, h: DomainHandle, want: DomainStatus['state'], timeoutMs: number): Promise<DomainStatus> => {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const s = await d.status(h)
    if (s.state === want) return s
    if (performance.now() > deadline) throw new Error(`${h.name} still ${s.state} (${s.reason ?? ''}) after ${timeoutMs} ms, not ${want}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

describe('libvirt driver with the real test guest', () => {
  it.concurrent('boots on a qcow2 overlay, prints its ready line, powers off gracefully and keeps what it wrote', async () => {
    const dir = join(work, 'graceful')
    const raw = join(work, 'g-base.img')
    const overlay = join(work, 'g-overlay.qcow2')
    await execa('truncate', ['-s', '32M', raw])
    await execa('mkfs.ext4', ['-q', '-F', raw])
    await execa('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', raw, overlay])
    const d = connect(dir)
    const t0 = performance.now()
    const h = await d.start({
      ...booting('lv-graceful', 'quiet sdpeer.write=/etc/sdpeer-proof:written-through-libvirt'),
      disks: [{ path: overlay, format: 'qcow2', target: 'vda', role: 'root' }]
    })
    const running = performance.now() - t0
    expect((await d.status(h)).state).toBe('running')
    const ready = await waitForLine(async () => await readFile(d.serialLog('lv-graceful'), 'utf8'), /SDPEER-GUEST-READY/, 60_000)
    const booted = performance.now() - t0
    expect(ready).toContain('hostname=lv-graceful')
    expect(ready).toContain('disk=/dev/vda')

    const t1 = performance.now()
    await d.shutdown(h, 30_000)
    const took = performance.now() - t1
    console.log(`libvirt: start -> running ${Math.round(running)} ms, -> ready line ${Math.round(booted)} ms, graceful shutdown ${Math.round(took)} ms`)
    expect(took).toBeLessThan(25_000) // the guest powered itself off: no 30 s timeout, no destroy
    expect(await readFile(d.serialLog('lv-graceful'), 'utf8')).toContain('SDPEER-GUEST-POWEROFF hostname=lv-graceful')
    expect((await d.status(h)).state).toBe('missing') // undefined: libvirt keeps nothing
    expect(await d.list()).not.toContain('lv-graceful')
    // The write went through libvirt's qcow2 disk and the guest unmounted it before powering off.
    const flat = join(work, 'g-flat.img')
    await execa('qemu-img', ['convert', '-O', 'raw', overlay, flat])
    const { stdout } = await execa('debugfs', ['-R', 'cat /etc/sdpeer-proof', flat])
    expect(stdout.trim()).toBe('written-through-libvirt')
  }, 120_000)

  it.concurrent('reports a guest kernel panic as crashed, with the panic line, and destroys it', async () => {
    const d = connect(join(work, 'panic'))
    const h = await d.start(booting('lv-panic', 'quiet sdpeer.panic'))
    const t0 = performance.now()
    const s = await until(d, h, 'crashed', 90_000)
    console.log(`libvirt: panic seen as crashed after ${Math.round(performance.now() - t0)} ms: ${s.reason}`)
    expect(s.reason).toMatch(/^libvirt reports crashed \(panicked\); serial log: .*Kernel panic/)
    await d.destroy(h)
    expect((await d.status(h)).state).toBe('missing')
  }, 120_000)

  it('reports a guest whose qemu was killed from outside as crashed, and lists it no more', async () => {
    const d = connect(join(work, 'killed'))
    const h = await d.start(booting('lv-killed'))
    const pid = await qemuPid('lv-killed')
    process.kill(pid, 'SIGKILL')
    const s = await until(d, h, 'crashed', 10_000)
    expect(s.reason).toMatch(/^libvirt reports shut off \(crashed\)/)
    expect(await d.list()).not.toContain('lv-killed')
    // A new driver instance (a restarted daemon) sees the same, and destroy clears the definition.
    const again = connect(join(work, 'killed'))
    expect((await again.recover(JSON.parse(JSON.stringify(h)) as DomainHandle)).state).toBe('crashed')
    await again.destroy(h)
    expect((await again.status(h)).state).toBe('missing')
  }, 60_000)
})

/** The pid of a domain's qemu, from the pid file libvirt keeps under its session directories. */
async function qemuPid (name: string): Promise<number> {
  if (daemon === undefined) throw new Error('no libvirtd')
  const found: string[] = []
  const walk = async (dir: string): Promise<void> => {
    for (const e of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
      if (e.isDirectory()) await walk(join(dir, e.name))
      else if (e.name === `${name}.pid`) found.push(join(dir, e.name))
    }
  }
  await walk(daemon.dir)
  if (found.length !== 1) throw new Error(`expected one ${name}.pid under ${daemon.dir}, found ${found.length}`)
  return Number.parseInt(await readFile(found[0]!, 'utf8'), 10)
}
