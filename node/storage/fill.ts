import { stat } from 'node:fs/promises'
import type { StorageContext } from './types.ts'
import { fsckForced, removeQuietly, runner, scratchDir } from './common.ts'
import type { BaseImageKind } from './common.ts'

// Making the guest's root file system on a volume without mounting anything (loop mounts may be unavailable, and a
// daemon should not need them): mkfs.ext4 -d copies a directory tree into the new file system; a tarball is unpacked
// to a scratch directory first. An image baseImage is copied by the caller (cp for files, dd for devices) and grown
// here.

export interface BaseImage { path: string, kind: BaseImageKind }

/** Makes an ext4 file system on `target` (a file or a device) holding `base`, or an empty one when there is no base. */
export async function makeExt4 (ctx: StorageContext, target: string, base: BaseImage | undefined): Promise<void> {
  const run = runner(ctx)
  if (base === undefined) {
    await run('mkfs.ext4', ['-F', '-q', target])
    return
  }
  if (base.kind === 'directory') {
    await run('mkfs.ext4', ['-F', '-q', '-d', base.path, target])
    return
  }
  if (base.kind !== 'tarball') throw new Error(`makeExt4 takes a tarball or a directory, not an ${base.kind}`)
  const tree = await scratchDir(ctx, 'unpack')
  try {
    // GNU tar detects the compression itself, refuses members with `..` and strips leading `/`.
    await run('tar', ['-x', '--numeric-owner', '-f', base.path, '-C', tree])
    await run('mkfs.ext4', ['-F', '-q', '-d', tree, target])
  } finally {
    await removeQuietly(tree)
  }
}

/** Bytes in an image file. */
export async function imageBytes (path: string): Promise<number> {
  return (await stat(path)).size
}

/** Grows the ext2/3/4 file system on `target` to fill it (after the image was copied onto a bigger volume). */
export async function growExt (ctx: StorageContext, target: string): Promise<void> {
  const run = runner(ctx)
  await fsckForced(run, target)
  await run('resize2fs', [target])
}
