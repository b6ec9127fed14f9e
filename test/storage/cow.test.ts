import { mkdir, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { cowBackend, imageInfo } from '../../node/storage/cow.ts'
import type { StorageContext } from '../../node/storage/types.ts'
import { allocated, cleanup, guestTree, hasSwapSignature, RecordingShell, tarCat, tarMembers, tempDir } from './helpers.ts'

const hasQemuImg = (await execa('qemu-img', ['--version'], { reject: false })).exitCode === 0
if (!hasQemuImg) console.log('cow storage tests skipped: qemu-img is not installed (apt-get install qemu-utils)')

let dir: string
let work: string
let shell: RecordingShell
let ctx: StorageContext

beforeEach(async () => {
  dir = await tempDir('cow')
  work = join(dir, 'work')
  await mkdir(work)
  shell = new RecordingShell()
  ctx = { shell, workDir: work }
})
afterEach(async () => { await cleanup(dir) })

describe.skipIf(!hasQemuImg)('cow storage', () => {
  it('creates a qcow2 overlay over a 1 GiB raw base in milliseconds, and deletes only the overlay', async () => {
    const base = join(dir, 'base.raw')
    await execa('truncate', ['-s', '1G', base])
    const b = cowBackend({ domainName: 'fast', baseImage: base, swapSize: 8 })
    const t0 = performance.now()
    const p = await b.prepare(ctx)
    const ms = performance.now() - t0
    console.log(`cow: overlay over a 1 GiB base (plus 8 MiB swap) prepared in ${ms.toFixed(1)} ms`)
    expect(ms).toBeLessThan(2_000)
    const overlay = join(work, 'fast.qcow2')
    expect(p.disks).toEqual([
      { path: overlay, format: 'qcow2', target: 'xvda1', role: 'root' },
      { path: join(work, 'fast-swap.img'), format: 'raw', target: 'xvda2', role: 'swap' }
    ])
    expect((await stat(overlay)).size).toBeLessThan(1048576)
    const info = await imageInfo(ctx, overlay)
    expect(info).toEqual({ format: 'qcow2', virtualSize: 1024 ** 3, backingFilename: base })
    expect(shell.calls[1]).toEqual(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', base, overlay])
    expect(await hasSwapSignature(join(work, 'fast-swap.img'))).toBe(true)
    await b.teardown(ctx, JSON.parse(JSON.stringify(p)), { keepVolumes: false })
    await b.teardown(ctx, p, { keepVolumes: false })
    expect(await readdir(work)).toEqual([])
    expect((await stat(base)).size).toBe(1024 ** 3)
  })

  it('probes a shared base once with an imageInfoCache, and again when the base changes', async () => {
    const base = join(dir, 'base.raw')
    await execa('truncate', ['-s', '64M', base])
    const cache = new Map()
    for (const n of ['a', 'b', 'c']) await cowBackend({ domainName: n, baseImage: base, imageInfoCache: cache }).prepare(ctx)
    expect(shell.calls.filter(c => c[1] === 'info')).toHaveLength(1)
    expect(shell.calls.filter(c => c[1] === 'create')).toHaveLength(3)
    await execa('truncate', ['-s', '128M', base])
    await cowBackend({ domainName: 'd', baseImage: base, imageInfoCache: cache }).prepare(ctx)
    expect(shell.calls.filter(c => c[1] === 'info')).toHaveLength(2)
  })

  it('detects a qcow2 base, resolves a relative base to an absolute path and sets volumeSize', async () => {
    const raw = join(dir, 'base.raw')
    await execa('truncate', ['-s', '64M', raw])
    await execa('qemu-img', ['convert', '-O', 'qcow2', raw, join(dir, 'base.qcow2')])
    // A relative baseImage is resolved against the cwd when the backend is built, never left for qemu to interpret.
    const cwd = process.cwd()
    process.chdir(dir)
    let b
    try {
      b = cowBackend({ domainName: 'q', baseImage: 'base.qcow2', volumeSize: '2G' })
    } finally {
      process.chdir(cwd)
    }
    const p = await b.prepare(ctx)
    expect(shell.calls[1]).toEqual(['qemu-img', 'create', '-q', '-f', 'qcow2', '-F', 'qcow2', '-b', join(dir, 'base.qcow2'), join(work, 'q.qcow2'), '2048M'])
    expect((await imageInfo(ctx, p.disks[0].path)).virtualSize).toBe(2 * 1024 ** 3)
  })

  it('saves the file system seen through the overlay to a tarball', async () => {
    const tree = await guestTree(join(dir, 'tree'), 'cowguest')
    const base = join(dir, 'base.img')
    await execa('truncate', ['-s', '32M', base])
    await execa('mkfs.ext4', ['-F', '-q', '-d', tree, base])
    const b = cowBackend({ domainName: 'saver', baseImage: base })
    const p = await b.prepare(ctx)
    const dest = join(dir, 'out', 'saver.tgz')
    await b.teardown(ctx, p, { keepVolumes: false, saveImageTo: dest })
    expect(await tarMembers(dest)).toEqual(expect.arrayContaining(['etc/hostname', 'var/lib/app/data.txt']))
    expect(await tarCat(dest, 'etc/hostname')).toBe('cowguest')
    expect(shell.calls.map(c => c.slice(0, 2).join(' '))).toContain('qemu-img convert')
    expect(await readdir(work)).toEqual([])
    expect(await allocated(base)).toBeGreaterThan(0)
  })

  it('fails cleanly: missing base, a base that is not raw/qcow2, an existing overlay', async () => {
    await expect(cowBackend({ domainName: 'm', baseImage: 'json:{"driver":"nbd"}' }).prepare(ctx))
      .rejects.toMatchObject({ name: 'StorageError', message: expect.stringMatching(/does not exist/) })
    const vmdk = join(dir, 'base.vmdk')
    await execa('qemu-img', ['create', '-q', '-f', 'vmdk', vmdk, '16M'])
    await expect(cowBackend({ domainName: 'v', baseImage: vmdk }).prepare(ctx))
      .rejects.toMatchObject({ name: 'StorageError', message: expect.stringMatching(/vmdk, not raw or qcow2/) })
    const base = join(dir, 'base.raw')
    await execa('truncate', ['-s', '16M', base])
    await writeFile(join(work, 'taken.qcow2'), 'x')
    await expect(cowBackend({ domainName: 'taken', baseImage: base }).prepare(ctx))
      .rejects.toMatchObject({ name: 'StorageError', message: expect.stringMatching(/already exists/) })
    shell.failOn = argv => argv[0] === 'mkswap'
    await expect(cowBackend({ domainName: 'rollback', baseImage: base, swapSize: 8 }).prepare(ctx)).rejects.toMatchObject({ name: 'StorageError' })
    expect(await readdir(work)).toEqual(['taken.qcow2'])
    expect(() => cowBackend({ domainName: '../x', baseImage: base })).toThrow(expect.objectContaining({ name: 'StorageError' }))
  })
})
