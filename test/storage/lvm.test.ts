import { mkdir, readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { lvmBackend } from '../../node/storage/lvm.ts'
import type { LvmOptions } from '../../node/storage/lvm.ts'
import type { StorageContext } from '../../node/storage/types.ts'
import { catFromExt4, cleanup, ext4Blocks, guestTree, hasSwapSignature, RecordingShell, tarCat, tempDir } from './helpers.ts'

// Contract tests of the LVM backend against the recording stand-ins in test/fixtures/bin (device-mapper does not work
// here). The stand-ins come first on PATH; a "volume" is a sparse file $DEV/VG/LV on which the real mkfs.ext4, mkswap,
// dd, e2fsck, resize2fs and debugfs run, so the file system work is real and only lvcreate/lvremove/lvs are stood in.

const standins = fileURLToPath(new URL('../fixtures/bin', import.meta.url))

let dir: string
let dev: string
let work: string
let recordFile: string
let shell: RecordingShell
let ctx: StorageContext
let tarball: string

function makeShell (extra: Record<string, string> = {}): RecordingShell {
  return new RecordingShell({ env: { PATH: `${standins}:${process.env.PATH}`, SDPEER_RECORD: recordFile, SDPEER_LVM_DEV: dev, SDPEER_NODE: process.execPath, ...extra } })
}
const backend = (o: Partial<LvmOptions> = {}): ReturnType<typeof lvmBackend> =>
  lvmBackend({ domainName: 'dom', volumeGroup: 'vg0', volumeSize: '64M', devDir: dev, ...o })
async function recorded (): Promise<string[][]> {
  const text = await readFile(recordFile, 'utf8').catch(() => '')
  return text.split('\n').filter(l => l !== '').map(l => (JSON.parse(l) as { argv: string[] }).argv)
}

beforeEach(async () => {
  dir = await tempDir('lvm')
  dev = join(dir, 'dev')
  work = join(dir, 'work')
  recordFile = join(dir, 'record.jsonl')
  await mkdir(join(dev, 'vg0'), { recursive: true })
  await mkdir(work)
  shell = makeShell()
  ctx = { shell, workDir: work }
  const tree = await guestTree(join(dir, 'tree'), 'lvmguest')
  tarball = join(dir, 'base.tgz')
  await execa('tar', ['-czf', tarball, '-C', tree, '.'])
})
afterEach(async () => { await cleanup(dir) })

describe('LVM storage (recording stand-in)', () => {
  it('hands its intent to ctx.intend before the first lvcreate; teardown of that intent removes what exists', async () => {
    const seen: Array<{ record: Record<string, unknown>, callsBefore: number }> = []
    const b = backend({ swapSize: '16M' })
    // An intend that fails stops prepare before anything is created (its record could not be kept).
    await expect(b.prepare({ ...ctx, intend: async () => { throw new Error('disk full') } })).rejects.toThrow(/disk full/)
    expect((await recorded()).filter(a => a[0] === 'lvcreate')).toEqual([])
    const p = await b.prepare({ ...ctx, intend: async record => { seen.push({ record: JSON.parse(JSON.stringify(record)), callsBefore: shell.calls.filter(c => c[0] === 'lvcreate').length }) } })
    expect(seen).toEqual([{ record: p.record, callsBefore: 0 }])
    // A daemon killed mid-prepare has only the intent: teardown from it removes the volumes.
    await b.teardown(ctx, { disks: [], record: seen[0]!.record }, { keepVolumes: false })
    expect(await readdir(join(dev, 'vg0'))).toEqual([])
    // Reusing existing volumes creates nothing, so there is no intent to record.
    await execa('truncate', ['-s', '64M', join(dev, 'vg0', 'dom-disk')])
    seen.length = 0
    await backend({ usingExistingVolumes: true }).prepare({ ...ctx, intend: async record => { seen.push({ record, callsBefore: 0 }) } })
    expect(seen).toEqual([])
  })

  it('runs exactly these command lines to prepare from a tarball and to tear down', async () => {
    const b = backend({ swapSize: '16M', baseImage: tarball })
    const p = await b.prepare(ctx)
    const disk = join(dev, 'vg0', 'dom-disk')
    const swap = join(dev, 'vg0', 'dom-swap')
    const scratch = expect.stringMatching(new RegExp(`^${work}/\\.unpack-`))
    expect(shell.calls).toEqual([
      ['lvs', '--noheadings', '-o', 'lv_name', 'vg0'],
      ['lvcreate', '--yes', '-L', '64m', '-n', 'dom-disk', 'vg0'],
      ['tar', '-x', '--numeric-owner', '-f', tarball, '-C', scratch],
      ['mkfs.ext4', '-F', '-q', '-d', scratch, disk],
      ['lvcreate', '--yes', '-L', '16m', '-n', 'dom-swap', 'vg0'],
      ['mkswap', swap]
    ])
    expect(await recorded()).toEqual([
      ['lvs', '--noheadings', '-o', 'lv_name', 'vg0'],
      ['lvcreate', '--yes', '-L', '64m', '-n', 'dom-disk', 'vg0'],
      ['lvcreate', '--yes', '-L', '16m', '-n', 'dom-swap', 'vg0']
    ])
    expect(p.disks).toEqual([
      { path: disk, format: 'raw', target: 'xvda1', role: 'root' },
      { path: swap, format: 'raw', target: 'xvda2', role: 'swap' }
    ])
    expect(await catFromExt4(disk, '/etc/hostname')).toBe('lvmguest')
    expect(await hasSwapSignature(swap)).toBe(true)
    expect(await readdir(work)).toEqual([])

    shell.calls.length = 0
    await b.teardown(ctx, JSON.parse(JSON.stringify(p)), { keepVolumes: false })
    expect(shell.calls).toEqual([
      ['lvs', '--noheadings', '-o', 'lv_name', 'vg0'],
      ['lvremove', '-f', 'vg0/dom-disk'],
      ['lvremove', '-f', 'vg0/dom-swap']
    ])
    expect(await readdir(join(dev, 'vg0'))).toEqual([])
    shell.calls.length = 0
    await b.teardown(ctx, p, { keepVolumes: false })
    expect(shell.calls).toEqual([['lvs', '--noheadings', '-o', 'lv_name', 'vg0']])
  })

  it('writes an image baseImage with dd and grows it with e2fsck + resize2fs', async () => {
    const image = join(dir, 'base.img')
    await execa('truncate', ['-s', '32M', image])
    await execa('mkfs.ext4', ['-F', '-q', '-d', join(dir, 'tree'), image])
    const p = await backend({ volumeBaseName: 'web1', baseImage: image, volumeSize: 48 }).prepare(ctx)
    const disk = join(dev, 'vg0', 'web1-disk')
    expect(shell.calls).toEqual([
      ['lvs', '--noheadings', '-o', 'lv_name', 'vg0'],
      ['lvcreate', '--yes', '-L', '48m', '-n', 'web1-disk', 'vg0'],
      ['dd', `if=${image}`, `of=${disk}`, 'bs=4M', 'conv=notrunc,fsync', 'status=none'],
      ['e2fsck', '-f', '-y', disk],
      ['resize2fs', disk]
    ])
    expect(p.disks.map(d => d.path)).toEqual([disk])
    const fs = await ext4Blocks(disk)
    expect(fs.count * fs.size).toBe(48 * 1048576)
    expect(await catFromExt4(disk, '/var/lib/app/data.txt')).toBe('payload 42')
    await expect(backend({ domainName: 'tiny', baseImage: image, volumeSize: 16 }).prepare(ctx))
      .rejects.toMatchObject({ name: 'StorageError', message: expect.stringMatching(/larger than volumeSize/) })
  })

  it('rolls back the volumes it created when a later step fails', async () => {
    const failing = makeShell({ SDPEER_LVM_FAIL: 'lvcreate:dom-swap' })
    const err = await backend({ swapSize: 16, baseImage: tarball }).prepare({ shell: failing, workDir: work }).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'StorageError', backend: 'lvm', message: expect.stringMatching(/dom-swap/) })
    expect(failing.calls.slice(-2)).toEqual([
      ['lvcreate', '--yes', '-L', '16m', '-n', 'dom-swap', 'vg0'],
      ['lvremove', '-f', 'vg0/dom-disk']
    ])
    expect(await readdir(join(dev, 'vg0'))).toEqual([])
    expect(await readdir(work)).toEqual([])
  })

  it('an abort during prepare still removes the volumes already created', async () => {
    const ac = new AbortController()
    shell.failOn = argv => { if (argv[0] === 'mkfs.ext4') ac.abort(); return false }
    await expect(backend({ swapSize: 16, baseImage: tarball }).prepare({ shell, workDir: work, signal: ac.signal }))
      .rejects.toMatchObject({ name: 'StorageError', message: expect.stringMatching(/abort/) })
    expect(shell.calls[shell.calls.length - 1]).toEqual(['lvremove', '-f', 'vg0/dom-disk'])
    expect(await readdir(join(dev, 'vg0'))).toEqual([])
    expect(await readdir(work)).toEqual([])
  })

  it('honours usingExistingVolumes and keepVolumes, and never overwrites an existing volume', async () => {
    const b = backend({ swapSize: 16, baseImage: tarball })
    const p = await b.prepare(ctx)
    await b.teardown(ctx, p, { keepVolumes: true })
    expect((await readdir(join(dev, 'vg0'))).sort()).toEqual(['dom-disk', 'dom-swap'])
    const mtime = (await stat(join(dev, 'vg0', 'dom-disk'))).mtimeMs
    await expect(b.prepare(ctx)).rejects.toMatchObject({ name: 'StorageError', message: expect.stringMatching(/already exists/) })
    shell.calls.length = 0
    const reuse = backend({ swapSize: 16, usingExistingVolumes: true, volumeSize: undefined })
    const q = await reuse.prepare(ctx)
    expect(shell.calls).toEqual([['lvs', '--noheadings', '-o', 'lv_name', 'vg0']])
    expect((await stat(join(dev, 'vg0', 'dom-disk'))).mtimeMs).toBe(mtime)
    expect(q.disks).toEqual(p.disks)
    await reuse.teardown(ctx, q, { keepVolumes: false })
    expect(await readdir(join(dev, 'vg0'))).toEqual([])
    await expect(reuse.prepare(ctx)).rejects.toMatchObject({ name: 'StorageError', message: expect.stringMatching(/does not exist/) })
  })

  it('saves the file system of the LV to a tarball before removing it', async () => {
    const b = backend({ baseImage: tarball })
    const p = await b.prepare(ctx)
    const dest = join(dir, 'images', 'dom.tar.gz')
    await b.teardown(ctx, p, { keepVolumes: false, saveImageTo: dest })
    expect(await tarCat(dest, 'etc/hostname')).toBe('lvmguest')
    expect(shell.calls.map(c => c[0]).slice(-7)).toEqual(['lvs', 'qemu-img', 'dumpe2fs', 'e2fsck', 'debugfs', 'tar', 'lvremove'])
    expect(await readdir(join(dev, 'vg0'))).toEqual([])
  })

  it('refuses a missing volume group, hostile names and a forged record', async () => {
    await expect(backend({ volumeGroup: 'nope' }).prepare(ctx)).rejects.toMatchObject({ name: 'StorageError', message: expect.stringMatching(/not found/) })
    for (const bad of ['vg0; rm -rf /', '../vg0', '-vg', 'vg/0']) {
      expect(() => backend({ volumeGroup: bad })).toThrow(expect.objectContaining({ name: 'StorageError' }))
      expect(() => backend({ domainName: bad })).toThrow(expect.objectContaining({ name: 'StorageError' }))
    }
    const forged = { backend: 'lvm', devDir: dev, volumes: [{ vg: 'vg0', lv: '../../etc', role: 'root' }] }
    await expect(backend().teardown(ctx, { disks: [], record: forged }, { keepVolumes: false })).rejects.toMatchObject({ name: 'StorageError' })
    expect(await recorded()).toEqual([['lvs', '--noheadings', '-o', 'lv_name', 'nope']])
  })
})
