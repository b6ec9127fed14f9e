import { mkdir, rename } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'
import { StorageError } from './types.ts'
import type { StorageContext } from './types.ts'
import { removeQuietly, runner, scratchDir } from './common.ts'
import type { BackendKind } from './common.ts'

// Saving a stopped guest's file system as a tarball without mounting it: debugfs's `rdump` copies the tree out of the
// ext2/3/4 image (as root it keeps owners and modes), tar packs it. The tarball is written beside its destination
// and renamed into place, so a crash never leaves half an image under the final name.
//
// A guest that crashed (or was killed) leaves its file system dirty: metadata of what it wrote last sits in the
// journal, unreplayed, and debugfs (which never replays a journal) would silently save the tree as it was before.
// So the volume is first copied to a scratch raw file (`qemu-img convert`, which also flattens a qcow2 overlay and
// keeps the copy sparse) and `e2fsck -fy` replays the journal and repairs the copy. The guest's own volume is never
// written: with keepVolumes it stays exactly as the guest left it.

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

/**
 * e2fsck's exit status is a bit mask: 0 clean, 1 errors corrected, 2 corrected and a reboot wanted (meaningless for an
 * unmounted copy). 4 (errors left uncorrected) and above (operational error, cancelled, library error) mean the tree
 * cannot be trusted.
 */
export const E2FSCK_OK_MAX = 2

export async function repairCopy (ctx: StorageContext, kind: BackendKind, raw: string, image: string): Promise<number> {
  try {
    await runner(ctx)('e2fsck', ['-f', '-y', raw], 3_600_000)
    return 0
  } catch (e) {
    const code = (e as { exitCode?: number }).exitCode
    if (code !== undefined && code >= 1 && code <= E2FSCK_OK_MAX) return code
    throw new StorageError(kind, `file system of ${image} cannot be repaired for saving (e2fsck exit ${code ?? 'unknown'}): ${(e as Error).message}`, { cause: e })
  }
}

export async function saveFileSystem (ctx: StorageContext, kind: BackendKind, source: FileSystemSource, dest: string): Promise<void> {
  const compression = tarCompression(kind, dest)
  const run = runner(ctx)
  const scratch = await scratchDir(ctx, 'save')
  const partial = join(dirname(dest), `.${basename(dest)}.${randomBytes(4).toString('hex')}.partial`)
  try {
    const raw = join(scratch, 'fs.raw')
    // The format is always given: probing a raw disk a guest wrote would let the guest pose as a qcow2 with a backing file.
    await run('qemu-img', ['convert', '-f', source.format, '-O', 'raw', source.path, raw], 3_600_000)
    // debugfs exits 0 even when it cannot open the image; dumpe2fs fails properly on a non-ext file system.
    await run('dumpe2fs', ['-h', raw])
    await repairCopy(ctx, kind, raw, source.path)
    const tree = join(scratch, 'tree')
    await mkdir(tree, { mode: 0o755 })
    // The request is a fixed string: the paths are the image (an argument of its own) and the cwd.
    const dump = await ctx.shell.run({ file: 'debugfs', args: ['-R', 'rdump / .', raw], cwd: tree, signal: ctx.signal, timeoutMs: 3_600_000 })
    const complaints = dump.stderr.split('\n').filter(l => l.trim() !== '' && !/^debugfs \d/.test(l))
    if (complaints.some(l => /not open|while trying|error/i.test(l))) throw new StorageError(kind, `debugfs could not read ${source.path}: ${complaints.join(' | ')}`)
    await removeQuietly(raw)
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
