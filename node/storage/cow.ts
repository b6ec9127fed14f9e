import { rm, stat } from 'node:fs/promises'
import type { DiskSpec } from '../drivers/types.ts'
import { StorageError } from './types.ts'
import type { PreparedStorage, StorageBackend, StorageContext, TeardownOptions } from './types.ts'
import { absolute, given, checkInside, checkName, exists, inside, parseSizeMiB, runner, wrap } from './common.ts'
import { saveFileSystem } from './save-image.ts'

// CowStorageBackend: a qcow2 overlay NAME.qcow2 in the work dir over a shared, read-only base image (raw or qcow2,
// as `qemu-img info` says), so preparing a guest costs one small file whatever the base size:
//   qemu-img info --output=json BASE
//   qemu-img create -q -f qcow2 -F FORMAT -b BASE WORKDIR/NAME.qcow2 [<MiB>M]
// BASE is always absolute: qemu resolves a relative backing name against the overlay's directory, and reads a
// leading "proto:" as a protocol. The base is never written; teardown deletes only the overlay (and swap file).
// An optional swap is a sparse raw file NAME-swap.img made with mkswap, as in the loopback backend.

export interface CowOptions {
  domainName: string
  /** The cached base image; must hold the guest's root file system (raw or qcow2). */
  baseImage: string
  /** Virtual size of the overlay (Integer MiB, "10G"); default the base's size. Growing the file system inside is the guest's job. */
  volumeSize?: string | number
  swapSize?: string | number
  volumeBaseName?: string
  usingExistingVolumes?: boolean
  /**
   * Shared by the backends of one host so that 200 overlays of the same base run `qemu-img info` once. Entries are
   * keyed by path, size and mtime, so a replaced base is probed again.
   */
  imageInfoCache?: Map<string, ImageInfo>
}

interface Volume { path: string, role: 'root' | 'swap', format: 'raw' | 'qcow2' }

export interface ImageInfo { format: string, virtualSize: number, backingFilename?: string }

/** `qemu-img info --output=json`, reduced to what the backends need. */
export async function imageInfo (ctx: StorageContext, path: string): Promise<ImageInfo> {
  const r = await runner(ctx)('qemu-img', ['info', '--output=json', absolute(path)], 60_000)
  const j = JSON.parse(r.stdout) as { format?: unknown, 'virtual-size'?: unknown, 'backing-filename'?: unknown }
  if (typeof j.format !== 'string' || typeof j['virtual-size'] !== 'number') throw new StorageError('cow', `qemu-img info ${path}: unexpected output`)
  return { format: j.format, virtualSize: j['virtual-size'], ...(typeof j['backing-filename'] === 'string' ? { backingFilename: j['backing-filename'] } : {}) }
}

async function cachedImageInfo (ctx: StorageContext, path: string, cache: Map<string, ImageInfo> | undefined): Promise<ImageInfo> {
  if (cache === undefined) return await imageInfo(ctx, path)
  const st = await stat(path)
  const key = `${path}\0${st.size}\0${st.mtimeMs}`
  let info = cache.get(key)
  if (info === undefined) {
    info = await imageInfo(ctx, path)
    cache.set(key, info)
  }
  return info
}

export function cowBackend (options: CowOptions): StorageBackend {
  const domainName = checkName('cow', 'domainName', options.domainName)
  const base = checkName('cow', 'volumeBaseName', given(options.volumeBaseName) ?? domainName)
  if (typeof options.baseImage !== 'string' || options.baseImage === '') throw new StorageError('cow', 'baseImage is required')
  const baseImage = absolute(options.baseImage)
  const volumeMiB = given(options.volumeSize) === undefined ? undefined : parseSizeMiB('cow', 'volumeSize', options.volumeSize)
  const swapMiB = given(options.swapSize) === undefined || options.swapSize === 0 ? undefined : parseSizeMiB('cow', 'swapSize', options.swapSize)

  return {
    kind: 'cow',

    async prepare (ctx: StorageContext): Promise<PreparedStorage> {
      const run = runner(ctx)
      const overlay = inside('cow', ctx.workDir, `${base}.qcow2`)
      const swap = swapMiB === undefined ? undefined : inside('cow', ctx.workDir, `${base}-swap.img`)
      const volumes: Volume[] = [{ path: overlay, role: 'root', format: 'qcow2' }]
      if (swap !== undefined) volumes.push({ path: swap, role: 'swap', format: 'raw' })
      const created: string[] = []
      try {
        if (options.usingExistingVolumes === true) {
          for (const v of volumes) if (!await exists(v.path)) throw new StorageError('cow', `usingExistingVolumes: ${v.path} does not exist`)
        } else {
          for (const v of volumes) if (await exists(v.path)) throw new StorageError('cow', `${v.path} already exists (set usingExistingVolumes to reuse it)`)
          if (!await exists(baseImage)) throw new StorageError('cow', `baseImage ${baseImage} does not exist`)
          const info = await cachedImageInfo(ctx, baseImage, options.imageInfoCache)
          if (info.format !== 'raw' && info.format !== 'qcow2') throw new StorageError('cow', `baseImage ${baseImage} is ${info.format}, not raw or qcow2`)
          created.push(overlay)
          await run('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', info.format, '-b', baseImage, overlay,
            ...(volumeMiB === undefined ? [] : [`${volumeMiB}M`])], 60_000)
          if (swap !== undefined) {
            created.push(swap)
            await run('truncate', ['-s', `${swapMiB}M`, swap])
            await run('mkswap', [swap])
          }
        }
      } catch (e) {
        for (const p of created) await rm(p, { force: true })
        throw wrap('cow', `preparing ${domainName}`, e)
      }
      const disks: DiskSpec[] = volumes.map(v => ({ path: v.path, format: v.format, target: v.role === 'root' ? 'xvda1' : 'xvda2', role: v.role }))
      return { disks, record: { backend: 'cow', domainName, baseImage, volumes } }
    },

    async teardown (ctx: StorageContext, prepared: PreparedStorage, options: TeardownOptions): Promise<void> {
      const volumes = readVolumes(ctx, prepared)
      try {
        if (options.saveImageTo !== undefined) {
          const root = volumes.find(v => v.role === 'root')
          if (root !== undefined && await exists(root.path)) {
            await saveFileSystem(ctx, 'cow', { path: root.path, format: 'qcow2' }, options.saveImageTo)
          } else if (!await exists(options.saveImageTo)) {
            throw new StorageError('cow', `cannot save image of ${domainName}: its overlay is gone`)
          }
        }
        if (!options.keepVolumes) for (const v of volumes) await rm(v.path, { force: true })
      } catch (e) {
        throw wrap('cow', `tearing down ${domainName}`, e)
      }
    }
  }
}

function readVolumes (ctx: StorageContext, prepared: PreparedStorage): Volume[] {
  const rec = prepared?.record as { backend?: unknown, volumes?: unknown }
  if (rec?.backend !== 'cow' || !Array.isArray(rec.volumes)) throw new StorageError('cow', 'teardown given a record of another backend')
  return rec.volumes.map((v: Partial<Volume>) => {
    if (v?.role !== 'root' && v?.role !== 'swap') throw new StorageError('cow', `bad volume role in record: ${JSON.stringify(v)}`)
    return { path: checkInside('cow', ctx.workDir, v.path), role: v.role, format: v.role === 'root' ? 'qcow2' : 'raw' }
  })
}
