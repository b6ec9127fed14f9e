import { mkdir, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { StorageError } from './types.ts'
import type { StorageContext } from './types.ts'
import { removeQuietly, runner, scratchDir } from './common.ts'
import type { BackendKind } from './common.ts'

// Saving a stopped guest's file system as a tarball without mounting it: debugfs's `rdump` copies the tree out of the
// ext2/3/4 image (as root it keeps owners and modes), tar packs it. A qcow2 overlay is first flattened to a raw
// file with `qemu-img convert`. The tarball is written beside its destination and renamed into place, so a crash
// never leaves half an image under the final name.

export interface FileSystemSource {
  /** Image file or block device holding the file system. */
  path: string
  format: 'raw' | 'qcow2'
}

/** `-z` for .tar.gz/.tgz, nothing for .tar; anything else is refused. */
export function tarCompression (kind: BackendKind, dest: string): string[] {
  if (/\.(tar\.gz|tgz)$/i.test(dest)) return ['-z']
  if (/\.tar$/i.test(dest)) return []
  throw new StorageError(kind, `saveImage destination ${dest} must end in .tar, .tar.gz or .tgz`)
}

export async function saveFileSystem (ctx: StorageContext, kind: BackendKind, source: FileSystemSource, dest: string): Promise<void> {
  const compression = tarCompression(kind, dest)
  const run = runner(ctx)
  const scratch = await scratchDir(ctx, 'save')
  const partial = join(dirname(dest), `.${basename(dest)}.${randomBytes(4).toString('hex')}.partial`)
  try {
    let raw = source.path
    if (source.format === 'qcow2') {
      raw = join(scratch, 'fs.raw')
      await run('qemu-img', ['convert', '-O', 'raw', source.path, raw], 3_600_000)
    }
    // debugfs exits 0 even when it cannot open the image; dumpe2fs fails properly on a non-ext file system.
    await run('dumpe2fs', ['-h', raw])
    const tree = join(scratch, 'tree')
    await mkdir(tree, { mode: 0o755 })
    // The request is a fixed string: the paths are the image (an argument of its own) and the cwd.
    const dump = await ctx.shell.run({ file: 'debugfs', args: ['-R', 'rdump / .', raw], cwd: tree, signal: ctx.signal, timeoutMs: 3_600_000 })
    const complaints = dump.stderr.split('\n').filter(l => l.trim() !== '' && !/^debugfs \d/.test(l))
    if (complaints.some(l => /not open|while trying|error/i.test(l))) throw new StorageError(kind, `debugfs could not read ${source.path}: ${complaints.join(' | ')}`)
    if (source.format === 'qcow2') await rm(raw, { force: true })
    await mkdir(dirname(dest), { recursive: true })
    await run('tar', ['-c', ...compression, '--numeric-owner', '-f', partial, '-C', tree, '.'], 3_600_000)
    await rename(partial, dest)
  } catch (e) {
    await removeQuietly(partial)
    if (e instanceof StorageError) throw e
    throw new StorageError(kind, `saving ${source.path} to ${dest}: ${(e as Error).message}`, { cause: e })
  } finally {
    await removeQuietly(scratch)
  }
}
