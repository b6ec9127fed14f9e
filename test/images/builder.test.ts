import { chmod, mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { buildImage } from '../../node/images/builder.ts'
import type { BuildProgress } from '../../node/images/builder.ts'
import { INIT_PATH } from '../../node/images/guest-files.ts'
import { Warehouse } from '../../node/images/warehouse.ts'

// The builder's whole pipeline with real tar, mke2fs and qemu-img, but a recording stand-in for debootstrap (a real
// one downloads for a minute: see build-real.test.ts). The stand-in writes its argv, prints progress like debootstrap
// and lays out the few files the customising step edits.

let dir: string
let argvLog: string
const MIRROR = 'http://mirror.invalid/debian'

const STUB = `#!/bin/sh
printf '%s\\n' "$@" > "$STUB_ARGV.$$"
mv "$STUB_ARGV.$$" "$STUB_ARGV.$(date +%s%N)"
case "$STUB_MODE" in
  fail) echo "E: Couldn't download packages: libc6" >&2; exit 1 ;;
  hang) echo "I: Retrieving Release"; sleep 30; exit 0 ;;
esac
for a; do root=$target; target=$a; done
root=$root
mkdir -p "$root/etc" "$root/var/cache/apt/archives" "$root/var/lib/apt/lists" "$root/bin"
echo "root:*:19000:0:99999:7:::" > "$root/etc/shadow"
echo "daemon:*:19000:0:99999:7:::" >> "$root/etc/shadow"
echo "junk" > "$root/var/cache/apt/archives/libc6.deb"
echo "I: Retrieving Release"
echo "I: Extracting libc6..."
echo "I: Base system installed successfully."
`

async function argvRuns (): Promise<string[][]> {
  const files = (await readdir(dir)).filter(f => f.startsWith('argv.')).sort()
  return await Promise.all(files.map(async f => (await readFile(join(dir, f), 'utf8')).trim().split('\n')))
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sdpeer-build-'))
  await mkdir(join(dir, 'bin'))
  await writeFile(join(dir, 'bin', 'debootstrap'), STUB)
  await chmod(join(dir, 'bin', 'debootstrap'), 0o755)
  argvLog = join(dir, 'argv')
  process.env.PATH = `${join(dir, 'bin')}:${process.env.PATH ?? ''}`
  process.env.STUB_ARGV = argvLog
})
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('the image builder (debootstrap stand-in, real packing tools)', () => {
  it('builds a tar.gz with the boot hook, fstab, files and credentials, then returns the cached id at once', async () => {
    process.env.STUB_MODE = 'ok'
    const stateDir = join(dir, 'state-tgz')
    await writeFile(join(dir, 'motd'), 'welcome to sdpeer\n')
    await writeFile(join(dir, 'key.pub'), 'ssh-ed25519 AAAAC3Nza test@sdpeer\n')
    const req = { distro: 'debian', suite: 'bookworm', packages: ['vim', 'curl'], files: [{ src: join(dir, 'motd'), dest: '/etc/motd' }], sshKeyFile: join(dir, 'key.pub'), rootPasswordHash: '$6$salt$abcdef', format: 'tar.gz' as const }
    const progress: BuildProgress[] = []
    const r = await buildImage(req, { stateDir, mirror: MIRROR, onProgress: p => progress.push(p) })
    expect(r.cached).toBe(false)
    const runs = await argvRuns()
    expect(runs.length).toBe(1)
    const root = runs[0][runs[0].length - 2]
    expect(runs[0]).toEqual(['--variant=minbase', '--include=curl,vim', '--components=main', 'bookworm', root, MIRROR])
    expect(progress.filter(p => p.step === 'debootstrap').map(p => p.line)).toContain('I: Extracting libc6...')

    const w = new Warehouse(stateDir)
    const path = w.imagePath(r.record)
    const listing = (await execa('tar', ['-tzf', path])).stdout.split('\n')
    expect(listing).toEqual(expect.arrayContaining(['./etc/fstab', `.${INIT_PATH}`, './etc/motd', './root/.ssh/authorized_keys', './etc/shadow']))
    expect(listing.some(l => l.endsWith('.deb'))).toBe(false)
    const shadow = (await execa('tar', ['-xzOf', path, './etc/shadow'])).stdout
    expect(shadow.split('\n')[0]).toBe('root:$6$salt$abcdef:19000:0:99999:7:::')
    expect((await execa('tar', ['-xzOf', path, './etc/motd'])).stdout).toBe('welcome to sdpeer')
    expect(r.record.names).toEqual([`debian-bookworm-minbase-targz-${r.record.id.slice(0, 8)}`])

    const again = await buildImage({ ...req, packages: ['curl', 'vim', 'vim'] }, { stateDir, mirror: MIRROR })
    expect(again.cached).toBe(true)
    expect(again.record.id).toBe(r.record.id)
    expect(again.durationMs).toBeLessThan(1000)
    expect((await argvRuns()).length).toBe(1)
  })

  it('builds raw (ext4 filled by mke2fs -d) and qcow2 disks of the asked size', async () => {
    process.env.STUB_MODE = 'ok'
    const stateDir = join(dir, 'state-disk')
    const raw = await buildImage({ distro: 'debian', suite: 'bookworm', format: 'raw', sizeBytes: 64 * 1024 * 1024 }, { stateDir, mirror: MIRROR })
    const w = new Warehouse(stateDir)
    expect(raw.record.size).toBe(64 * 1024 * 1024)
    expect(raw.record.names).toEqual(['debian-bookworm-minbase'])
    expect((await execa('debugfs', ['-R', 'cat /etc/fstab', w.imagePath(raw.record)])).stdout).toContain('/dev/vda / ext4')
    expect((await execa('debugfs', ['-R', `stat ${INIT_PATH}`, w.imagePath(raw.record)])).stdout).toMatch(/Mode:\s+0755/)
    const q = await buildImage({ distro: 'debian', suite: 'bookworm', format: 'qcow2', sizeBytes: 64 * 1024 * 1024 }, { stateDir, mirror: MIRROR })
    const info = JSON.parse((await execa('qemu-img', ['info', '--output=json', w.imagePath(q.record)])).stdout)
    expect(info).toMatchObject({ format: 'qcow2', 'virtual-size': 64 * 1024 * 1024 })
    expect(q.record.id).not.toBe(raw.record.id)
  })

  it('leaves nothing in the warehouse when debootstrap fails or the build is aborted', async () => {
    const stateDir = join(dir, 'state-fail')
    const w = new Warehouse(stateDir)
    process.env.STUB_MODE = 'fail'
    await expect(buildImage({ distro: 'debian', suite: 'bookworm', format: 'raw', sizeBytes: 32 * 1024 * 1024 }, { stateDir, mirror: MIRROR }))
      .rejects.toMatchObject({ name: 'ImageBuildError', step: 'debootstrap', message: expect.stringContaining("Couldn't download packages") })
    process.env.STUB_MODE = 'hang'
    const stop = new AbortController()
    const started = performance.now()
    const p = buildImage({ distro: 'debian', suite: 'bookworm', format: 'tar.gz' }, { stateDir, mirror: MIRROR, signal: stop.signal, onProgress: (e) => { if (e.line.startsWith('I: Retrieving')) stop.abort() } })
    await expect(p).rejects.toMatchObject({ name: 'ImageBuildError', message: expect.stringContaining('aborted') })
    expect(performance.now() - started).toBeLessThan(10_000)
    expect(await w.list()).toEqual([])
    expect(await readdir(w.tmpDir)).toEqual([])
    expect((await readdir(w.dir)).sort()).toEqual(['partial', 'tmp'])
  })
})
