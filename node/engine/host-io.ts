import type { Shell } from '../seams/shell.ts'
import type { SfJson } from '../sf/sfjson.ts'
import { cowBackend, loopbackBackend, lvmBackend } from '../storage/index.ts'
import type { ImageInfo } from '../storage/index.ts'
import type { StorageBackend } from '../storage/types.ts'
import { withImageBase } from '../storage/image-base.ts'
import type { ResolveImage } from '../storage/image-base.ts'
import { ExecaShell } from '../seams/execa-shell.ts'
import type { StorageKind } from './component.ts'
import { EngineError } from './types.ts'

// Where the engine gets its host I/O: the Shell implementation and the storage backends, both owned by the host-I/O
// layer; EngineOptions can inject both (tests do).

export type ShellFactory = (path: string, log: (line: string) => void) => Shell
export type StorageFactory = (kind: StorageKind, attrs: Record<string, SfJson>, info: StorageInfo) => StorageBackend | Promise<StorageBackend>

export interface StorageInfo {
  pool: string
  /** The storage component's path. */
  path: string
  workDir: string
  lvm?: LvmDefaults
}

export interface LvmDefaults {
  /** Where LVM device nodes appear (`/dev`; a temp dir for the stand-in in tests). */
  devDir?: string
  /** Volume group used when a description names none. */
  volumeGroup?: string
}

export async function defaultShellFactory (): Promise<ShellFactory> {
  return (_path, log) => new ExecaShell({ log })
}

const str = (v: SfJson | undefined): string | undefined => typeof v === 'string' ? v : undefined
const size = (v: SfJson | undefined): string | number | undefined => typeof v === 'string' || typeof v === 'number' ? v : undefined
/** Descriptions write booleans as strings too (lvmVm.sf: `keepVolumes "false"`). */
const flag = (v: SfJson | undefined): boolean | undefined => v === true || v === 'true' ? true : v === false || v === 'false' ? false : undefined

/**
 * The node/storage backends built from a storage component's resolved attributes. One instance per engine, so the
 * cow backends of a host share their base-image probe cache. A baseImage of `image:NAME` or `image:ID` is turned
 * into a warehouse file by `resolveImage` when the backend prepares (node/images's resolver, which fetches from
 * peers when the daemon gives it a mesh).
 */
export function defaultStorageFactory (options: { resolveImage?: ResolveImage } = {}): StorageFactory {
  const imageInfoCache = new Map<string, ImageInfo>()
  const resolve = options.resolveImage
  return (kind, attrs, info) => {
    const common = {
      domainName: str(attrs.domainName) ?? '',
      volumeSize: size(attrs.volumeSize),
      swapSize: size(attrs.swapSize),
      baseImage: str(attrs.baseImage),
      volumeBaseName: str(attrs.volumeBaseName),
      usingExistingVolumes: flag(attrs.usingExistingVolumes)
    }
    switch (kind) {
      case 'loopback':
        return withImageBase(kind, common.baseImage, resolve, baseImage => loopbackBackend({ ...common, baseImage, makeFs: flag(attrs.makeFs) }))
      case 'lvm': {
        const volumeGroup = str(attrs.volumeGroup) ?? info.lvm?.volumeGroup
        if (volumeGroup === undefined) throw new EngineError('LVMStorageBackend needs volumeGroup (attribute, or the daemon\'s default volume group)', info.pool, info.path)
        return withImageBase(kind, common.baseImage, resolve, baseImage => lvmBackend({ ...common, baseImage, volumeGroup, makeFs: flag(attrs.makeFs), devDir: info.lvm?.devDir }))
      }
      case 'cow': {
        if (common.baseImage === undefined) throw new EngineError('CowStorageBackend needs baseImage', info.pool, info.path)
        return withImageBase(kind, common.baseImage, resolve, baseImage => cowBackend({ ...common, baseImage: baseImage ?? '', imageInfoCache }))
      }
    }
  }
}
