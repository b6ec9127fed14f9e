import { createHash } from 'node:crypto'
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { saveFileSystem } from '../../node/storage/save-image.ts'
import { cowBackend } from '../../node/storage/cow.ts'
import type { StorageContext } from '../../node/storage/types.ts'
import { cleanup, guestTree, RecordingShell, tarCat, tarMembers, tempDir } from './helpers.ts'

// Saving the disk of a guest that crashed. The fixture is a real dirty ext4: the guest's last write (a new file) is
// committed to the journal but never checkpointed, exactly what a killed guest leaves. It is made without mounting:
// the file is written into a copy with debugfs, and every metadata block that changed is put back into the
// original through a journal transaction (debugfs `jo`/`jw`/`jc`), which sets needs_recovery as the kernel would.

const BLOCK = 4096

let dir: string
let work: string
let shell: RecordingShell
let ctx: StorageContext

beforeEach(async () => {
  dir = await tempDir('save')
  work = join(dir, 'work')
  await mkdir(work)
  shell = new RecordingShell()
  ctx = { shell, workDir: work }
})
afterEach(async () => { await cleanup(dir) })

/** A 16 MiB ext4 image whose /var/lib/app/crash.txt exists only in its unreplayed journal. */
async function crashedGuestDisk (): Promise<string> {
  const tree = await guestTree(join(dir, 'tree'))
  const disk = join(dir, 'guest.raw')
  await execa('truncate', ['-s', '16M', disk])
  await execa('mkfs.ext4', ['-q', '-b', String(BLOCK), '-d', tree, disk])
  const after = join(dir, 'after.raw')
  await copyFile(disk, after)
  await writeFile(join(dir, 'crash.txt'), 'written just before the crash\n')
  await execa('debugfs', ['-w', '-R', `write ${join(dir, 'crash.txt')} /var/lib/app/crash.txt`, after])
  const [a, b] = [await readFile(disk), await readFile(after)]
  const changed: number[] = []
  // Block 0 holds the superblock (free counts, mount time): the kernel journals it too, but e2fsck recounts anyway.
  for (let i = 1; i < a.byteLength / BLOCK; i++) {
    if (!a.subarray(i * BLOCK, (i + 1) * BLOCK).equals(b.subarray(i * BLOCK, (i + 1) * BLOCK))) changed.push(i)
  }
  expect(changed.length).toBeGreaterThan(1)
  await writeFile(join(dir, 'blocks.bin'), Buffer.concat(changed.map(i => b.subarray(i * BLOCK, (i + 1) * BLOCK))))
  await execa('debugfs', ['-w', '-f', '-', disk], { input: `jo\njw -b ${changed.join(',')} ${join(dir, 'blocks.bin')}\njc\n` })
  await execa('debugfs', ['-w', '-R', 'set_super_value state 0', disk])
  return disk
}

const sha = async (path: string): Promise<string> => createHash('sha256').update(await readFile(path)).digest('hex')

describe('saving the file system of a crashed guest', () => {
  it('replays the journal on a scratch copy: the tarball holds the last file the guest wrote; the disk is untouched', async () => {
    const disk = await crashedGuestDisk()
    // The fixture really is dirty: read as it lies (what debugfs alone saved before), the file is not there.
    const header = (await execa('dumpe2fs', ['-h', disk])).stdout
    expect(header).toMatch(/needs_recovery/)
    expect(header).toMatch(/Filesystem state:\s+not clean/)
    const asIs = await execa('debugfs', ['-R', 'ls -p /var/lib/app', disk])
    expect(asIs.stdout).not.toMatch(/crash\.txt/)

    const before = await sha(disk)
    const dest = join(dir, 'saved', 'guest.tar.gz')
    await saveFileSystem(ctx, 'loopback', { path: disk, format: 'raw' }, dest)
    expect(await tarCat(dest, 'var/lib/app/crash.txt')).toBe('written just before the crash')
    expect(await tarCat(dest, 'etc/hostname')).toBe('guest1')
    expect(await sha(disk)).toBe(before)
    const scratch = shell.calls[0][7]
    expect(shell.calls).toEqual([
      ['qemu-img', 'convert', '-f', 'raw', '-O', 'raw', disk, scratch],
      ['dumpe2fs', '-h', scratch],
      ['e2fsck', '-f', '-y', scratch],
      ['debugfs', '-R', 'rdump / .', scratch],
      ['tar', '-c', '-z', '--numeric-owner', '-f', expect.stringMatching(/\.guest\.tar\.gz\.[0-9a-f]+\.partial$/), '-C', expect.any(String), '.']
    ])
    expect(scratch.startsWith(work)).toBe(true)
    expect(await readdir(work)).toEqual([])
  })

  it('saves a crashed guest on a cow overlay: the overlay is flattened and repaired, base and overlay unchanged', async () => {
    const disk = await crashedGuestDisk()
    const b = cowBackend({ domainName: 'crashed', baseImage: disk })
    const p = await b.prepare(ctx)
    const overlay = p.disks[0].path
    const before = [await sha(disk), await sha(overlay)]
    const dest = join(dir, 'saved', 'crashed.tar')
    await b.teardown(ctx, p, { keepVolumes: true, saveImageTo: dest })
    expect(await tarMembers(dest)).toEqual(expect.arrayContaining(['var/lib/app/crash.txt', 'var/lib/app/data.txt']))
    expect([await sha(disk), await sha(overlay)]).toEqual(before)
    expect(shell.calls.find(c => c[1] === 'convert')?.slice(0, 6)).toEqual(['qemu-img', 'convert', '-f', 'qcow2', '-O', 'raw'])
    await b.teardown(ctx, p, { keepVolumes: false })
  })

  it('e2fsck exit 4 or more (errors left, operational error) fails the save naming the image; no partial tarball', async () => {
    const disk = await crashedGuestDisk()
    shell.failOn = argv => argv[0] === 'e2fsck' // exits 8, an operational error
    const dest = join(dir, 'saved', 'guest.tar.gz')
    await mkdir(join(dir, 'saved'))
    const err = await saveFileSystem(ctx, 'loopback', { path: disk, format: 'raw' }, dest).then(() => undefined, (e: unknown) => e)
    expect(err).toMatchObject({ name: 'StorageError', backend: 'loopback' })
    expect((err as Error).message).toContain(disk)
    expect((err as Error).message).toMatch(/e2fsck exit 8/)
    expect(shell.calls.map(c => c[0])).toEqual(['qemu-img', 'dumpe2fs', 'e2fsck'])
    expect(await readdir(join(dir, 'saved'))).toEqual([])
    expect(await readdir(work)).toEqual([])
  })

  it('a clean file system saves too (e2fsck exit 0; the crashed one above exits 1, corrected)', async () => {
    const tree = await guestTree(join(dir, 'tree2'), 'clean')
    const disk = join(dir, 'clean.raw')
    await execa('truncate', ['-s', '16M', disk])
    await execa('mkfs.ext4', ['-q', '-d', tree, disk])
    const dest = join(dir, 'clean.tar')
    await saveFileSystem(ctx, 'lvm', { path: disk, format: 'raw' }, dest)
    expect(await tarCat(dest, 'etc/hostname')).toBe('clean')
  })
})
