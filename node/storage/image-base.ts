import type { BackendKind } from './common.ts'
import { StorageError } from './types.ts'
import type { PreparedStorage, StorageBackend, StorageContext, TeardownOptions } from './types.ts'

// A baseImage may name a warehouse image (`image:debian-bookworm-minbase`, `image:<id>`) instead of a path. The
// name is turned into a file only inside prepare, under the prepare's abort signal, because turning it may mean
// fetching gigabytes from other peers: a pool terminated meanwhile must not wait for the transfer to finish. The
// storage layer knows nothing of warehouses or meshes: it is handed the resolving function.

/** Gives the local file of a warehouse image, fetching it from peers when this host lacks it. */
export type ResolveImage = (ref: string, options: { signal?: AbortSignal }) => Promise<string>

export function isImageRef (value: unknown): value is string {
  return typeof value === 'string' && value.startsWith('image:')
}

/** Image files that hold a whole disk (cow needs one); a .tar.gz holds a tree. */
const DISK_FILE = /\.(raw|qcow2)$/

/**
 * Wraps the backend built for `baseImage`: when it is an image reference, prepare first resolves it and builds the
 * backend again for the resolved path. Teardown never reads the base image, so the first backend serves it (also
 * after a daemon restart, when the image may be gone from this host).
 */
export function withImageBase (kind: BackendKind, baseImage: string | undefined, resolve: ResolveImage | undefined,
  make: (baseImage: string | undefined) => StorageBackend): StorageBackend {
  const unresolved = make(baseImage)
  if (!isImageRef(baseImage)) return unresolved
  return {
    kind: unresolved.kind,
    async prepare (ctx: StorageContext): Promise<PreparedStorage> {
      if (resolve === undefined) throw new StorageError(kind, `baseImage ${baseImage}: this host has no image warehouse`)
      let path: string
      try {
        path = await resolve(baseImage, { signal: ctx.signal })
      } catch (e) {
        throw new StorageError(kind, `baseImage ${baseImage}: ${(e as Error)?.message ?? String(e)}`, { cause: e })
      }
      if (kind === 'cow' && !DISK_FILE.test(path)) throw new StorageError(kind, `baseImage ${baseImage} is not a disk image (raw or qcow2): ${path}`)
      return await make(path).prepare(ctx)
    },
    async teardown (ctx: StorageContext, prepared: PreparedStorage, options: TeardownOptions): Promise<void> {
      await unresolved.teardown(ctx, prepared, options)
    }
  }
}
