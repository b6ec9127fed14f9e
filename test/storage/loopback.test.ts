import { mkdir, readdir, stat, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { loopbackBackend } from '../../node/storage/loopback.ts'
import type { StorageContext } from '../../node/storage/types.ts'
import { allocated, catFromExt4, cleanup, ext4Blocks, guestTree, hasSwapSignature, RecordingShell, tarCat, tarMembers, tempDir } from './helpers.ts'

let dir: string
let work: string
let shell: RecordingShell
let ctx: StorageContext
let tarball: string

beforeEach(async () => {
  dir = await tempDir('loop')
  work = join(dir, 'work')
  await mkdir(work)
  shell = new RecordingShell()
  ctx = { shell, workDir: work }
  const tree = await guestTree(join(dir, 'tree'))
  tarball = join(dir, 'base.tar.gz')
  await execa('tar', ['-czf', tarball, '-C', tree, '.'])
})
afterEach(async () => { await cleanup(dir) })

describe('loopback storage', () => {
  it('makes a sparse root image filled from a tarball without mounting, and a swap file; teardown removes both', async () => {
    const b = loopbackBackend({ domainName: 'dom1', volumeSize: '64M', swapSize: 16, baseImage: tarball })
    const p = await b.prepare(ctx)
    const root = join(work, 'dom1-disk.img')
    const swap = join(work, 'dom1-swap.img')
    expect(p.disks).toEqual([
      { path: root, format: 'raw', target: 'xvda1', role: 'root' },
      { path: swap, format: 'raw', target: 'xvda2', role: 'swap' }
    ])
    expect((await stat(root)).size).toBe(64 * 1048576)
    expect(await allocated(root)).toBeLessThan(32 * 1048576)
    expect(await catFromExt4(root, '/etc/hostname')).toBe('guest1')
    expect(await catFromExt4(root, '/var/lib/app/data.txt')).toBe('payload 42')
    expect((await stat(swap)).size).toBe(16 * 1048576)
    expect(await hasSwapSignature(swap)).toBe(true)
    expect(shell.calls.map(c => c[0])).toEqual(['truncate', 'tar', 'mkfs.ext4', 'truncate', 'mkswap'])
    expect(shell.calls.every(c => !c.includes('mount'))).toBe(true)
    const saved = JSON.parse(JSON.stringify(p))
    await b.teardown(ctx, saved, { keepVolumes: false })
    expect(await readdir(work)).toEqual([])
    await b.teardown(ctx, saved, { keepVolumes: false }) // idempotent
  })

  it('copies an image baseImage sparsely and grows it to volumeSize; without volumeSize uses it as is', async () => {
    const image = join(dir, 'base.img')
    await execa('truncate', ['-s', '32M', image])
    await execa('mkfs.ext4', ['-F', '-q', '-d', join(dir, 'tree'), image])
    const grown = await loopbackBackend({ domainName: 'big', volumeSize: '96M', baseImage: image }).prepare(ctx)
    const root = grown.disks[0].path
    expect((await stat(root)).size).toBe(96 * 1048576)
    const fs = await ext4Blocks(root)
    expect(fs.count * fs.size).toBe(96 * 1048576)
    expect(await catFromExt4(root, '/etc/hostname')).toBe('guest1')
    expect(shell.calls.map(c => c[0])).toEqual(['cp', 'truncate', 'e2fsck', 'resize2fs'])
    expect(shell.calls[0]).toEqual(['cp', '--sparse=always', '--', image, root])

    const asIs = await loopbackBackend({ domainName: 'same', baseImage: image }).prepare(ctx)
    expect((await stat(asIs.disks[0].path)).size).toBe(32 * 1048576)
    await expect(loopbackBackend({ domainName: 'small', volumeSize: 16, baseImage: image }).prepare(ctx))
      .rejects.toMatchObject({ name: 'StorageError', message: expect.stringMatching(/smaller than baseImage/) })
    expect((await readdir(work)).sort()).toEqual(['big-disk.img', 'same-disk.img'])
  })

  it('fills from a directory baseImage, or makes an empty file system', async () => {
    const fromDir = await loopbackBackend({ domainName: 'd', volumeSize: 32, baseImage: join(dir, 'tree') }).prepare(ctx)
    expect(await catFromExt4(fromDir.disks[0].path, '/var/lib/app/data.txt')).toBe('payload 42')
    const empty = await loopbackBackend({ domainName: 'e', volumeSize: 32 }).prepare(ctx)
    expect((await ext4Blocks(empty.disks[0].path)).count).toBeGreaterThan(0)
    const raw = await loopbackBackend({ domainName: 'r', volumeSize: 32, makeFs: false }).prepare(ctx)
    expect(await allocated(raw.disks[0].path)).toBe(0)
  })

  it('keepVolumes keeps them, usingExistingVolumes reuses them untouched, and refuses to clobber without it', async () => {
    const b = loopbackBackend({ domainName: 'keep', volumeSize: 32, swapSize: 8, baseImage: tarball })
    const p = await b.prepare(ctx)
    await b.teardown(ctx, p, { keepVolumes: true })
    const before = await stat(p.disks[0].path)
    await expect(b.prepare(ctx)).rejects.toMatchObject({ name: 'StorageError', message: expect.stringMatching(/already exists/) })
    expect((await stat(p.disks[0].path)).mtimeMs).toBe(before.mtimeMs)
    shell.calls.length = 0
    const reuse = loopbackBackend({ domainName: 'keep', swapSize: 8, usingExistingVolumes: true })
    const q = await reuse.prepare(ctx)
    expect(shell.calls).toEqual([])
    expect(q.disks.map(d => d.path)).toEqual(p.disks.map(d => d.path))
    expect(await catFromExt4(q.disks[0].path, '/etc/hostname')).toBe('guest1')
    await reuse.teardown(ctx, q, { keepVolumes: false })
    expect(await readdir(work)).toEqual([])
    await expect(reuse.prepare(ctx)).rejects.toMatchObject({ name: 'StorageError', message: expect.stringMatching(/does not exist/) })
  })

  it('removes what it created when prepare fails', async () => {
    const notTar = join(dir, 'broken.tgz')
    await writeFile(notTar, 'this is not a tarball')
    await expect(loopbackBackend({ domainName: 'x', volumeSize: 32, swapSize: 8, baseImage: notTar }).prepare(ctx))
      .rejects.toMatchObject({ name: 'StorageError', backend: 'loopback' })
    await expect(loopbackBackend({ domainName: 'y', volumeSize: 32, baseImage: join(dir, 'missing.img') }).prepare(ctx))
      .rejects.toMatchObject({ name: 'StorageError' })
    // Swap fails after the root volume was made: the root goes too.
    expect(() => loopbackBackend({ domainName: 'z', volumeSize: 32, swapSize: '8X' })).toThrow(expect.objectContaining({ name: 'StorageError' }))
    shell.failOn = argv => argv[0] === 'mkswap'
    await expect(loopbackBackend({ domainName: 'z', volumeSize: 32, swapSize: 8, baseImage: tarball }).prepare(ctx))
      .rejects.toMatchObject({ name: 'StorageError', message: expect.stringMatching(/mkswap/) })
    expect(shell.calls.map(c => c[0])).toContain('mkfs.ext4')
    expect(await readdir(work)).toEqual([])
  })

  it('saves the guest file system as .tgz and .tar without mounting, before the volumes go', async () => {
    const b = loopbackBackend({ domainName: 'save', volumeSize: 32, baseImage: tarball })
    const p = await b.prepare(ctx)
    // What the guest wrote while running: add a file to the image, as a guest would have.
    await execa('debugfs', ['-w', '-R', 'mkdir /home', p.disks[0].path])
    const tgz = join(dir, 'saved', 'save.tgz')
    await b.teardown(ctx, p, { keepVolumes: true, saveImageTo: tgz })
    expect(await tarMembers(tgz)).toEqual(expect.arrayContaining(['etc/hostname', 'var/lib/app/data.txt', 'home', 'etc/hostname.link']))
    expect(await tarCat(tgz, 'etc/hostname')).toBe('guest1')
    const tar = join(dir, 'saved', 'save.tar')
    await b.teardown(ctx, p, { keepVolumes: false, saveImageTo: tar })
    expect((await execa('file', ['-b', tar], { reject: false })).stdout || 'tar').toMatch(/tar/i)
    expect(await tarCat(tar, 'var/lib/app/data.txt')).toBe('payload 42')
    expect(await readdir(work)).toEqual([])
    expect((await readdir(join(dir, 'saved'))).sort()).toEqual(['save.tar', 'save.tgz'])
  })

  it('a failed save keeps the volumes and leaves no partial tarball', async () => {
    const b = loopbackBackend({ domainName: 'nosave', volumeSize: 32, makeFs: false })
    const p = await b.prepare(ctx)
    const dest = join(dir, 'out.tar.gz')
    await expect(b.teardown(ctx, p, { keepVolumes: false, saveImageTo: dest })).rejects.toMatchObject({ name: 'StorageError' })
    await expect(b.teardown(ctx, p, { keepVolumes: false, saveImageTo: join(dir, 'out.zip') })).rejects.toMatchObject({ name: 'StorageError', message: expect.stringMatching(/\.tar/) })
    expect(await readdir(work)).toEqual(['nosave-disk.img'])
    expect(await readdir(dir)).not.toContain('out.tar.gz')
    expect((await readdir(dir)).filter(n => n.includes('partial'))).toEqual([])
  })

  it.each(['x; rm -rf /', '$(touch pwned)', '../etc', '.hidden', 'a/b', 'a\nb', '`id`', '', 'x'.repeat(65)])('refuses the name %j', name => {
    expect(() => loopbackBackend({ domainName: name, volumeSize: 32 })).toThrow(expect.objectContaining({ name: 'StorageError' }))
    expect(() => loopbackBackend({ domainName: 'ok', volumeBaseName: name, volumeSize: 32 })).toThrow(expect.objectContaining({ name: 'StorageError' }))
  })

  it('passes a hostile baseImage path to the tools as one plain argument', async () => {
    const hostile = join(dir, 'x; touch pwned; $(touch pwned) `touch pwned` \n touch pwned.tar.gz')
    await execa('cp', [tarball, hostile])
    const p = await loopbackBackend({ domainName: 'h', volumeSize: 32, baseImage: hostile }).prepare(ctx)
    expect(await catFromExt4(p.disks[0].path, '/etc/hostname')).toBe('guest1')
    expect(shell.calls.find(c => c[0] === 'tar')).toContain(hostile)
    for (const where of [dir, work, process.cwd()]) expect(await stat(join(where, 'pwned')).then(() => true, () => false)).toBe(false)
  })

  it('refuses a teardown record that points outside the work dir', async () => {
    const b = loopbackBackend({ domainName: 'evil', volumeSize: 32 })
    const victim = join(dir, 'victim')
    await writeFile(victim, 'keep me')
    const record = { backend: 'loopback', volumes: [{ path: join(work, '..', 'victim'), role: 'root' }] }
    await expect(b.teardown(ctx, { disks: [], record }, { keepVolumes: false })).rejects.toMatchObject({ name: 'StorageError' })
    expect((await stat(victim)).size).toBe(7)
  })
})
