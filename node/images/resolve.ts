import { ImageNotFoundError } from './errors.ts'
import { Warehouse } from './warehouse.ts'

// How a description names an image: `baseImage "image:debian-bookworm-minbase"` (a warehouse name) or
// `"image:<64 hex>"` (an id) or a unique id prefix. Anything else is a path and is returned unchanged, so storage
// backends can call the resolver on every baseImage value.

/** Fetches an image this host lacks from the mesh and returns once it is in the local warehouse. */
export type ImageFetcher = (ref: string, options: { signal?: AbortSignal }) => Promise<void>

export interface ImageResolverOptions {
  stateDir: string
  /** When given, a missing image is fetched from peers before giving up. */
  fetch?: ImageFetcher
  signal?: AbortSignal
}

export function isImageRef (value: string): boolean { return value.startsWith('image:') }

/** Turns a baseImage value into a local file path, fetching the image from the mesh when allowed. */
export async function resolveImageRef (value: string, options: ImageResolverOptions): Promise<string> {
  if (!isImageRef(value)) return value
  const warehouse = new Warehouse(options.stateDir)
  let record = await warehouse.find(value)
  if (record == null && options.fetch != null) {
    await options.fetch(value, { signal: options.signal })
    record = await warehouse.find(value)
  }
  if (record == null) throw new ImageNotFoundError(value, options.fetch != null ? 'this warehouse nor on any peer' : 'the warehouse')
  return warehouse.imagePath(record)
}

/**
 * The resolver bound to one state dir: what the storage backends are handed (node/storage/image-base.ts's
 * ResolveImage). A call's own signal (the prepare's) wins over the one given here.
 */
export function createImageResolver (options: ImageResolverOptions): (value: string, call?: { signal?: AbortSignal }) => Promise<string> {
  return async (value, call = {}) => await resolveImageRef(value, { ...options, signal: call.signal ?? options.signal })
}
