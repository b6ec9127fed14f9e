import { access, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { Writable } from 'node:stream'
import { execa } from 'execa'
import { describe, expect, it } from 'vitest'
import { run as image } from '../../cli/commands/image.ts'
import { QemuDriver } from '../../node/drivers/qemu/index.ts'
import { aptMirror } from '../../node/images/mirror.ts'
import { INIT_PATH } from '../../node/images/guest-files.ts'
import { createImageResolver, resolveImageRef } from '../../node/images/resolve.ts'
import { createEngine } from '../../node/engine/index.ts'
import { bashShell, compound, domain, lazy, storage } from '../engine/fixtures.ts'
import { ensureGuest, waitForLine } from '../../simulations/guest/guest.ts'
import { switchRootInitrd } from './switch-root-initrd.ts'

// One real build: `sdpeer image build` of a Debian bookworm minbase raw disk with debootstrap from the archive this
// machine's apt uses (about 35 s here), kept in .cache/images-state so later runs take the cached path. Then a pool
// whose VM names the image boots it under the qemu driver (TCG) on a qcow2 overlay; the initramfs switches root into
// it, and the image's own init prints the ready line with the host name from the description.

const stateDir = resolve(import.meta.dirname, '../../.cache/images-state')
const canBuild = await (async () => {
  if (process.getuid?.() !== 0) return 'debootstrap needs root'
  try { await access('/usr/sbin/debootstrap') } catch { return 'debootstrap is not installed' }
  if (await aptMirror() == null) return 'no Debian archive in /etc/apt'
  return ''
})()
if (canBuild !== '') console.log(`build-real.test.ts skipped: ${canBuild}`)

function capture (): { io: Parameters<typeof image>[1], out: () => string, err: () => string } {
  let out = ''
  let err = ''
  const sink = (add: (s: string) => void): Writable => new Writable({ write (c, _e, cb) { add(String(c)); cb() } })
  return { io: { stdout: sink(s => { out += s }), stderr: sink(s => { err += s }), env: {}, cwd: process.cwd() }, out: () => out, err: () => err }
}

const ARGS = ['build', '--distro', 'debian', '--suite', 'bookworm', '--variant', 'minbase', '--format', 'raw', '--size', '1G', '--state-dir', stateDir]

describe.skipIf(canBuild !== '')('a real debootstrap image', () => {
  it('is built by `sdpeer image build`, returned at once when built again, and boots with its host name', async () => {
    const first = capture()
    expect(await image(ARGS, first.io)).toBe(0)
    const id = first.out().trim()
    expect(id).toMatch(/^[0-9a-f]{64}$/)
    console.log(`first build: ${first.err().trim().split('\n').at(-1)}`)

    const t0 = performance.now()
    const second = capture()
    expect(await image(ARGS, second.io)).toBe(0)
    const cachedMs = performance.now() - t0
    expect(second.out().trim()).toBe(id)
    expect(second.err()).toMatch(/^cached in/)
    expect(cachedMs).toBeLessThan(1000)
    console.log(`cached build: ${cachedMs.toFixed(0)} ms`)

    const base = await resolveImageRef('image:debian-bookworm-minbase', { stateDir })
    expect(base).toBe(join(stateDir, 'images', `${id}.raw`))
    expect((await execa('debugfs', ['-R', 'cat /etc/debian_version', base])).stdout).toMatch(/^12\./m)

    // Booted as a VM of a pool: the engine's CowStorageBackend puts an overlay on `image:debian-bookworm-minbase`
    // (the warehouse file is content-addressed and must never change), the qemu driver starts the VM with the
    // description's host name, and the image's own init prints the ready line.
    const work = await mkdtemp(join(tmpdir(), 'sdpeer-image-boot-'))
    const driver = new QemuDriver({ stateDir: join(work, 'qemu'), accel: 'tcg' })
    const engine = createEngine({ host: 'h1', stateDir: join(work, 'state'), driver, resolveImage: createImageResolver({ stateDir }) })
    try {
      await engine.start()
      const guest = await ensureGuest()
      const initrd = await switchRootInitrd(guest.initrd, work)
      const pool = compound({
        myShell: bashShell(),
        disk: storage('Cow', { domainName: 'img-boot', baseImage: 'image:debian-bookworm-minbase', swapSize: 0 }),
        vm1: domain({
          kernel: guest.kernel,
          ramdisk: initrd,
          memory: 256,
          hostname: 'debian-vm1.cern.ch',
          ip: '10.0.2.15',
          gateway: '10.0.2.2',
          extra: `sdpeer.init=${INIT_PATH}`,
          storageBackend: lazy('ATTRIB disk'),
          domainLivenessCheck: false
        })
      })
      const st = await engine.deploy('debian', pool)
      expect(st.state).toBe('running')
      const line = await waitForLine(async () => await readFile(driver.paths('img-boot').serialLog, 'utf8'), /SDPEER-GUEST-READY/, 120_000)
      // The image's own init (not the initramfs') printed it: `image=sdpeer`, disk=/.
      console.log(`ready line: ${line.trim()}`)
      expect(line).toContain('hostname=debian-vm1.cern.ch')
      expect(line).toContain('image=sdpeer')
      await engine.terminate('debian', 'normal')
      expect(engine.status().map(p => p.pool)).not.toContain('debian')
    } finally {
      await engine.stop()
      await rm(work, { recursive: true, force: true })
    }
  }, 600_000)
})
