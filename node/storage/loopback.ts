import { rm } from 'node:fs/promises'
import type { DiskSpec } from '../drivers/types.ts'
import { StorageError } from './types.ts'
import type { PreparedStorage, StorageBackend, StorageContext, TeardownOptions } from './types.ts'
import { absolute, given, baseImageKind, checkInside, checkName, exists, inside, parseSizeMiB, runner, wrap } from './common.ts'
import { growExt, imageBytes, makeExt4 } from './fill.ts'
import type { BaseImage } from './fill.ts'
import { saveFileSystem } from './save-image.ts'

// LoopbackStorageBackend: the guest's disks are plain files in the work dir, NAME-disk.img (root) and NAME-swap.img.
// The root file is sparse. Filling it from baseImage:
//   tarball or directory -> mkfs.ext4 -d (no mount);
//   image file           -> cp --sparse=always, then, when volumeSize is larger than the image, grown in place
//                           (truncate + e2fsck + resize2fs); without volumeSize the copy is used as is.

export interface LoopbackOptions {
  domainName: string
  /** Root volume size (Integer MiB, "512M", "1G"). Required unless baseImage is an image file or usingExistingVolumes. */
  volumeSize?: string | number
  /** No swap file when absent. */
  swapSize?: string | number
  baseImage?: string
  /** Make an (empty) ext4 file system when there is no baseImage. Default true. */
  makeFs?: boolean
  /** Prefix of the file names; default domainName. */
  volumeBaseName?: string
  /** Use NAME-disk.img (and NAME-swap.img) left by an earlier run instead of creating them. */
  usingExistingVolumes?: boolean
}

interface Volume { path: string, role: 'root' | 'swap' }

export function loopbackBackend (options: LoopbackOptions): StorageBackend {
  const domainName = checkName('loopback', 'domainName', options.domainName)
  const base = checkName('loopback', 'volumeBaseName', given(options.volumeBaseName) ?? domainName)
  const volumeMiB = given(options.volumeSize) === undefined ? undefined : parseSizeMiB('loopback', 'volumeSize', options.volumeSize)
  const swapMiB = given(options.swapSize) === undefined || options.swapSize === 0 ? undefined : parseSizeMiB('loopback', 'swapSize', options.swapSize)
  const makeFs = given(options.makeFs) ?? true

  return {
    kind: 'loopback',

    async prepare (ctx: StorageContext): Promise<PreparedStorage> {
      const run = runner(ctx)
      const root = inside('loopback', ctx.workDir, `${base}-disk.img`)
      const swap = swapMiB === undefined ? undefined : inside('loopback', ctx.workDir, `${base}-swap.img`)
      const volumes: Volume[] = [{ path: root, role: 'root' }, ...(swap === undefined ? [] : [{ path: swap, role: 'swap' as const }])]
      const created: string[] = []
      try {
        if (options.usingExistingVolumes === true) {
          for (const v of volumes) if (!await exists(v.path)) throw new StorageError('loopback', `usingExistingVolumes: ${v.path} does not exist`)
        } else {
          for (const v of volumes) if (await exists(v.path)) throw new StorageError('loopback', `${v.path} already exists (set usingExistingVolumes to reuse it)`)
          const image: BaseImage | undefined = given(options.baseImage) === undefined
            ? undefined
            : { path: absolute(options.baseImage!), kind: await baseImageKind('loopback', options.baseImage!) }
          created.push(root)
          if (image?.kind === 'image') {
            await run('cp', ['--sparse=always', '--', image.path, root])
            const bytes = await imageBytes(image.path)
            if (volumeMiB !== undefined) {
              if (volumeMiB * 1048576 < bytes) throw new StorageError('loopback', `volumeSize ${volumeMiB} MiB is smaller than baseImage ${image.path} (${bytes} bytes)`)
              if (volumeMiB * 1048576 > bytes) {
                await run('truncate', ['-s', `${volumeMiB}M`, root])
                await growExt(ctx, root)
              }
            }
          } else {
            if (volumeMiB === undefined) throw new StorageError('loopback', 'volumeSize is required unless baseImage is an image file')
            await run('truncate', ['-s', `${volumeMiB}M`, root])
            if (image !== undefined || makeFs) await makeExt4(ctx, root, image)
          }
          if (swap !== undefined) {
            created.push(swap)
            await run('truncate', ['-s', `${swapMiB}M`, swap])
            await run('mkswap', [swap])
          }
        }
      } catch (e) {
        for (const p of created) await rm(p, { force: true })
        throw wrap('loopback', `preparing ${domainName}`, e)
      }
      return { disks: volumes.map(diskOf), record: { backend: 'loopback', domainName, workDir: ctx.workDir, volumes } }
    },

    async teardown (ctx: StorageContext, prepared: PreparedStorage, options: TeardownOptions): Promise<void> {
      const volumes = readVolumes(ctx, prepared)
      try {
        if (options.saveImageTo !== undefined) {
          const root = volumes.find(v => v.role === 'root')
          if (root !== undefined && await exists(root.path)) {
            await saveFileSystem(ctx, 'loopback', { path: root.path, format: 'raw' }, options.saveImageTo)
          } else if (!await exists(options.saveImageTo)) {
            throw new StorageError('loopback', `cannot save image of ${domainName}: its root volume is gone`)
          }
        }
        if (!options.keepVolumes) for (const v of volumes) await rm(v.path, { force: true })
      } catch (e) {
        throw wrap('loopback', `tearing down ${domainName}`, e)
      }
    }
  }
}

function diskOf (v: Volume): DiskSpec {
  return { path: v.path, format: 'raw', target: v.role === 'root' ? 'xvda1' : 'xvda2', role: v.role }
}

/** The record may come from a state file written by an earlier daemon: check it before deleting anything it names. */
function readVolumes (ctx: StorageContext, prepared: PreparedStorage): Volume[] {
  const rec = prepared?.record as { backend?: unknown, volumes?: unknown }
  if (rec?.backend !== 'loopback' || !Array.isArray(rec.volumes)) throw new StorageError('loopback', 'teardown given a record of another backend')
  return rec.volumes.map((v: Partial<Volume>) => {
    if (v?.role !== 'root' && v?.role !== 'swap') throw new StorageError('loopback', `bad volume role in record: ${JSON.stringify(v)}`)
    return { path: checkInside('loopback', ctx.workDir, v.path), role: v.role }
  })
}
