import { join } from 'node:path'
import type { DiskSpec } from '../drivers/types.ts'
import { StorageError } from './types.ts'
import type { PreparedStorage, StorageBackend, StorageContext, TeardownOptions } from './types.ts'
import { absolute, given, baseImageKind, checkName, exists, parseSizeMiB, runner, wrap } from './common.ts'
import { growExt, imageBytes, makeExt4 } from './fill.ts'
import type { BaseImage } from './fill.ts'
import { saveFileSystem } from './save-image.ts'

// LVMStorageBackend: logical volumes NAME-disk (root) and NAME-swap in volumeGroup, seen as /dev/VG/LV.
// The command lines (pinned by test/storage/lvm.test.ts against a recording stand-in, since device-mapper does not
// work on the build machine):
//   lvs --noheadings -o lv_name VG                 which volumes exist (before creating, and at teardown)
//   lvcreate --yes -L <MiB>m -n NAME-disk VG       --yes: never wait on a "wipe signature?" prompt
//   mkfs.ext4 -F -q [-d TREE] /dev/VG/NAME-disk    TREE: the unpacked tarball or a baseImage directory
//   dd if=IMAGE of=/dev/VG/NAME-disk bs=4M conv=notrunc,fsync status=none; e2fsck -f -y; resize2fs   (image baseImage)
//   lvcreate --yes -L <MiB>m -n NAME-swap VG; mkswap /dev/VG/NAME-swap
//   lvremove -f VG/NAME-disk                       teardown, and rollback of a failed prepare
// Before the first lvcreate, prepare hands its intent (the record teardown reads) to ctx.intend, so that volumes a
// killed daemon created can be removed by the next one.

export interface LvmOptions {
  domainName: string
  volumeGroup: string
  /** Root LV size (Integer MiB, "512M", "1G"). Required unless usingExistingVolumes. */
  volumeSize?: string | number
  swapSize?: string | number
  baseImage?: string
  /** Make an (empty) ext4 file system when there is no baseImage. Default true. */
  makeFs?: boolean
  volumeBaseName?: string
  usingExistingVolumes?: boolean
  /** Where device nodes appear; `/dev` on a real host, a temp dir for the stand-in. */
  devDir?: string
}

interface LogicalVolume { vg: string, lv: string, role: 'root' | 'swap' }

export function lvmBackend (options: LvmOptions): StorageBackend {
  const domainName = checkName('lvm', 'domainName', options.domainName)
  const vg = checkName('lvm', 'volumeGroup', options.volumeGroup)
  const base = checkName('lvm', 'volumeBaseName', given(options.volumeBaseName) ?? domainName)
  const volumeMiB = given(options.volumeSize) === undefined ? undefined : parseSizeMiB('lvm', 'volumeSize', options.volumeSize)
  const swapMiB = given(options.swapSize) === undefined || options.swapSize === 0 ? undefined : parseSizeMiB('lvm', 'swapSize', options.swapSize)
  const makeFs = given(options.makeFs) ?? true
  const devDir = given(options.devDir) ?? '/dev'
  const device = (v: LogicalVolume): string => join(devDir, v.vg, v.lv)

  return {
    kind: 'lvm',

    async prepare (ctx: StorageContext): Promise<PreparedStorage> {
      const run = runner(ctx)
      const volumes: LogicalVolume[] = [{ vg, lv: `${base}-disk`, role: 'root' }]
      if (swapMiB !== undefined) volumes.push({ vg, lv: `${base}-swap`, role: 'swap' })
      const created: LogicalVolume[] = []
      try {
        const present = await listVolumes(ctx, vg)
        if (options.usingExistingVolumes === true) {
          for (const v of volumes) if (!present.has(v.lv)) throw new StorageError('lvm', `usingExistingVolumes: ${vg}/${v.lv} does not exist`)
        } else {
          for (const v of volumes) if (present.has(v.lv)) throw new StorageError('lvm', `${vg}/${v.lv} already exists (set usingExistingVolumes to reuse it)`)
          if (volumeMiB === undefined) throw new StorageError('lvm', 'volumeSize is required')
          const image: BaseImage | undefined = given(options.baseImage) === undefined
            ? undefined
            : { path: absolute(options.baseImage!), kind: await baseImageKind('lvm', options.baseImage!) }
          if (image?.kind === 'image' && await imageBytes(image.path) > volumeMiB * 1048576) {
            throw new StorageError('lvm', `baseImage ${image.path} is larger than volumeSize ${volumeMiB} MiB`)
          }
          const [root, swap] = volumes
          // Volumes live outside the work dir: their names are on record before the first one exists. Written after
          // the checks above, so an intent never names a volume that was there before (teardown would remove it).
          await ctx.intend?.({ backend: 'lvm', domainName, devDir, volumes })
          await run('lvcreate', ['--yes', '-L', `${volumeMiB}m`, '-n', root.lv, vg])
          created.push(root)
          if (image?.kind === 'image') {
            await run('dd', [`if=${image.path}`, `of=${device(root)}`, 'bs=4M', 'conv=notrunc,fsync', 'status=none'], 3_600_000)
            if (await imageBytes(image.path) < volumeMiB * 1048576) await growExt(ctx, device(root))
          } else if (image !== undefined || makeFs) {
            await makeExt4(ctx, device(root), image)
          }
          if (swap !== undefined) {
            await run('lvcreate', ['--yes', '-L', `${swapMiB}m`, '-n', swap.lv, vg])
            created.push(swap)
            await run('mkswap', [device(swap)])
          }
        }
      } catch (e) {
        const cleanup = runner(ctx, { forCleanup: true })
        for (const v of created.reverse()) await cleanup('lvremove', ['-f', `${v.vg}/${v.lv}`]).catch(() => {})
        throw wrap('lvm', `preparing ${domainName}`, e)
      }
      const disks: DiskSpec[] = volumes.map(v => ({ path: device(v), format: 'raw', target: v.role === 'root' ? 'xvda1' : 'xvda2', role: v.role }))
      return { disks, record: { backend: 'lvm', domainName, devDir, volumes } }
    },

    async teardown (ctx: StorageContext, prepared: PreparedStorage, options: TeardownOptions): Promise<void> {
      const run = runner(ctx)
      const { volumes, devDir: recordedDevDir } = readRecord(prepared)
      const dev = (v: LogicalVolume): string => join(recordedDevDir, v.vg, v.lv)
      try {
        const groups = [...new Set(volumes.map(v => v.vg))]
        const present = new Set<string>()
        for (const g of groups) for (const lv of await listVolumes(ctx, g)) present.add(`${g}/${lv}`)
        if (options.saveImageTo !== undefined) {
          const root = volumes.find(v => v.role === 'root')
          if (root !== undefined && present.has(`${root.vg}/${root.lv}`)) {
            await saveFileSystem(ctx, 'lvm', { path: dev(root), format: 'raw' }, options.saveImageTo)
          } else if (!await exists(options.saveImageTo)) {
            // Gone and never saved; a repeated teardown after a successful save finds the tarball and goes on.
            throw new StorageError('lvm', `cannot save image of ${domainName}: its root volume is gone`)
          }
        }
        if (!options.keepVolumes) {
          for (const v of volumes) if (present.has(`${v.vg}/${v.lv}`)) await run('lvremove', ['-f', `${v.vg}/${v.lv}`])
        }
      } catch (e) {
        throw wrap('lvm', `tearing down ${domainName}`, e)
      }
    }
  }
}

/** Names of the LVs in a volume group; a missing group is an error (lvs exits non-zero). */
async function listVolumes (ctx: StorageContext, vg: string): Promise<Set<string>> {
  const r = await runner(ctx)('lvs', ['--noheadings', '-o', 'lv_name', vg])
  return new Set(r.stdout.split('\n').map(l => l.trim()).filter(l => l !== ''))
}

/** The record may come from a state file written by an earlier daemon: every name is checked again. */
function readRecord (prepared: PreparedStorage): { volumes: LogicalVolume[], devDir: string } {
  const rec = prepared?.record as { backend?: unknown, volumes?: unknown, devDir?: unknown }
  if (rec?.backend !== 'lvm' || !Array.isArray(rec.volumes) || typeof rec.devDir !== 'string') {
    throw new StorageError('lvm', 'teardown given a record of another backend')
  }
  const volumes = rec.volumes.map((v: Partial<LogicalVolume>) => {
    if (v?.role !== 'root' && v?.role !== 'swap') throw new StorageError('lvm', `bad volume role in record: ${JSON.stringify(v)}`)
    return { vg: checkName('lvm', 'volumeGroup', v.vg), lv: checkName('lvm', 'volume', v.lv), role: v.role }
  })
  return { volumes, devDir: rec.devDir }
}
