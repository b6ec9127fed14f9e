import type { MeshNode } from '../mesh/node.ts'
import { MAX_ANNOUNCED_IMAGES } from '../../protocol/limits.ts'
import { realClock } from '../seams/clock.ts'
import type { Clock, Timer } from '../seams/clock.ts'
import type { ResolveImage } from '../storage/image-base.ts'
import { createImageResolver, resolveImageRef } from './resolve.ts'
import { fetchImage, ImageServer } from './transfer.ts'
import type { FetchOptions, FetchResult, ServeHooks } from './transfer.ts'
import { Warehouse } from './warehouse.ts'
import type { ImageRecord } from './warehouse.ts'

// What a daemon runs for images: the server answering peers from its warehouse, the resolver its storage backends
// call for `baseImage "image:..."` (which fetches a missing image from the live peers of the mesh before prepare
// goes on), and the list of images this host holds, for its host announcement (the scheduler's "cached base
// image"). Peers that announce the image are asked first; every other live peer after them, at the cost of one
// small info request each.

/** At most this many entries in a host announcement's `images` (the wire's bound). */
export { MAX_ANNOUNCED_IMAGES } from '../../protocol/limits.ts'

/** A host view with the `images` field of its announcement. */
type ViewWithImages = { images?: readonly string[] }

export interface ImageServiceInit {
  node: Pick<MeshNode, 'rpc' | 'libp2p' | 'hosts' | 'peerId'>
  stateDir: string
  clock?: Clock
  hooks?: ServeHooks
  /** Peer ids known to hold an image; default: the peers whose announcement lists it. Asked first. */
  holders?: (ref: string) => string[]
  onFetch?: (ref: string, result: FetchResult) => void
  /**
   * Called with this host's announcement entries (`announcedImages()`) when they change: after a fetch, and when a
   * periodic look at the warehouse finds images built, imported or removed by `sdpeer image` meanwhile.
   */
  onHeldChange?: (images: string[]) => void | Promise<void>
  /** How often the warehouse is looked at for changes made outside the daemon. Default 30 s; 0 = never. */
  rescanMs?: number
  /** Transfer tuning (streams per peer, chunks per stream, timeouts). */
  transfer?: Partial<Pick<FetchOptions, 'perPeer' | 'batch' | 'requestTimeoutMs' | 'maxPeerFailures' | 'maxBadChunks'>>
}

interface Inflight { promise: Promise<FetchResult>, controller: AbortController, waiters: number }

export class ImageService {
  readonly warehouse: Warehouse
  readonly server: ImageServer
  readonly #init: ImageServiceInit
  readonly #clock: Clock
  /** One fetch per image at a time: two VMs on one base image wait for the same transfer. */
  readonly #inflight = new Map<string, Inflight>()
  #held: string[] = []
  #timer: Timer | undefined
  #stopped = false

  constructor (init: ImageServiceInit) {
    this.#init = init
    this.#clock = init.clock ?? realClock
    this.warehouse = new Warehouse(init.stateDir)
    this.server = new ImageServer(init.node.rpc, init.node.libp2p, this.warehouse, init.hooks)
  }

  async start (): Promise<void> {
    await this.warehouse.init()
    await this.server.start()
    await this.refreshHeld(true)
    this.#schedule()
  }

  async stop (): Promise<void> {
    this.#stopped = true
    this.#timer?.cancel()
    for (const f of this.#inflight.values()) f.controller.abort(new Error('image service stopped'))
    await this.server.stop()
  }

  #schedule (): void {
    const every = this.#init.rescanMs ?? 30_000
    if (every <= 0 || this.#stopped) return
    this.#timer = this.#clock.setTimeout(() => {
      void this.refreshHeld().catch(() => {}).finally(() => { this.#schedule() })
    }, every)
  }

  /** Live peers, the known holders first. */
  candidates (ref: string): string[] {
    const hosts = this.#init.node.hosts()
    const alive = hosts.filter(h => h.state === 'alive').map(h => h.peerId)
    const announced = hosts.filter(h => announces(h as ViewWithImages, ref)).map(h => h.peerId)
    const holders = (this.#init.holders?.(ref) ?? announced).filter(p => alive.includes(p))
    return [...holders, ...alive.filter(p => !holders.includes(p))]
  }

  /**
   * Fetches an image into the warehouse (at once when it is there). Callers asking for the same ref share one
   * transfer; a caller's signal ends only its own wait, and the transfer stops when every waiter has given up.
   */
  async fetch (ref: string, options: { signal?: AbortSignal } = {}): Promise<FetchResult> {
    options.signal?.throwIfAborted()
    let f = this.#inflight.get(ref)
    // A transfer whose waiters all gave up is winding down (its last chunks and bitmap still being written): a new
    // fetch starts after it, from the chunks it kept, rather than joining its failure or racing it on the file.
    while (f?.controller.signal.aborted === true) {
      await untilAborted(f.promise.then(() => {}, () => {}), options.signal)
      f = this.#inflight.get(ref)
    }
    if (f == null) {
      const controller = new AbortController()
      const promise = fetchImage({
        ...this.#init.transfer,
        rpc: this.#init.node.rpc,
        streams: this.#init.node.libp2p,
        warehouse: this.warehouse,
        ref,
        peers: this.candidates(ref),
        signal: controller.signal
      }).then(async r => {
        this.#init.onFetch?.(ref, r)
        if (!r.local) await this.refreshHeld().catch(() => {})
        return r
      }).finally(() => { this.#inflight.delete(ref) })
      f = { promise, controller, waiters: 0 }
      this.#inflight.set(ref, f)
    }
    const mine = f
    mine.waiters++
    try {
      return await untilAborted(mine.promise, options.signal)
    } finally {
      mine.waiters--
      if (mine.waiters === 0 && options.signal?.aborted === true) mine.controller.abort(options.signal.reason)
    }
  }

  /** The engine's `resolveImage`: a local path for an `image:` baseImage, fetched from peers when this host lacks it. */
  readonly resolve: ResolveImage = async (ref, options) =>
    await resolveImageRef(ref, { stateDir: this.#init.stateDir, fetch: async (r, o) => { await this.fetch(r, o) }, signal: options.signal })

  /** The same as `resolve`, for callers that have no signal. */
  resolver (): (value: string, call?: { signal?: AbortSignal }) => Promise<string> {
    return createImageResolver({ stateDir: this.#init.stateDir, fetch: async (ref, o) => { await this.fetch(ref, o) } })
  }

  /** What this host can serve. */
  async held (): Promise<Array<{ id: string, names: string[], size: number }>> {
    return (await this.warehouse.list()).map(r => ({ id: r.id, names: r.names, size: r.size }))
  }

  /** The `images` field of this host's announcement, as last computed. */
  announcedImages (): string[] { return [...this.#held] }

  /** Reads the warehouse again; tells onHeldChange when the announcement entries changed. */
  async refreshHeld (force = false): Promise<string[]> {
    const next = announcementEntries(await this.warehouse.list())
    const changed = next.length !== this.#held.length || next.some((x, i) => x !== this.#held[i])
    this.#held = next
    if ((changed || force) && !this.#stopped) {
      try {
        await this.#init.onHeldChange?.([...next])
      } catch {
        // Announcing is best effort: forget what was announced so that the next look tries again.
        this.#held = []
      }
    }
    return next
  }
}

/**
 * Announcement entries for a warehouse: each image's names, then its id, newest images first, at most
 * MAX_ANNOUNCED_IMAGES entries. A description names an image either way (`image:NAME`, `image:ID`).
 */
export function announcementEntries (records: readonly ImageRecord[]): string[] {
  const out: string[] = []
  const newest = [...records].sort((a, b) => b.createdAt.localeCompare(a.createdAt) || a.id.localeCompare(b.id))
  for (const r of newest) {
    for (const e of [...r.names, r.id]) {
      if (out.length >= MAX_ANNOUNCED_IMAGES) return out
      if (!out.includes(e)) out.push(e)
    }
  }
  return out
}

/**
 * The scheduler's `imagesOf` (node/scheduler/assign.ts): the base images a host holds, in the form descriptions
 * write them (`image:NAME`, `image:ID`), from the `images` field of its announcement.
 */
export function imageRefsOf (view: ViewWithImages): string[] {
  return (view.images ?? []).map(e => `image:${e}`)
}

function announces (view: ViewWithImages, ref: string): boolean {
  const bare = ref.startsWith('image:') ? ref.slice('image:'.length) : ref
  return (view.images ?? []).some(e => e === bare || (bare.length >= 8 && /^[0-9a-f]+$/.test(bare) && e.startsWith(bare)))
}

/** Starts a daemon's image service on its mesh node. */
export async function startImageService (init: Omit<ImageServiceInit, 'node'> & { meshNode: ImageServiceInit['node'] }): Promise<ImageService> {
  const { meshNode, ...rest } = init
  const service = new ImageService({ ...rest, node: meshNode })
  await service.start()
  return service
}

/**
 * A ResolveImage for an engine created before the mesh (the daemon's order): through the image service once there
 * is one, from the local warehouse alone until then.
 */
export function lateImageResolver (stateDir: string, service: () => ImageService | undefined): ResolveImage {
  const local = createImageResolver({ stateDir })
  return async (ref, options) => {
    const s = service()
    return s != null ? await s.resolve(ref, options) : await local(ref, options)
  }
}

async function untilAborted<T> (p: Promise<T>, signal: AbortSignal | undefined): Promise<T> {
  if (signal == null) return await p
  signal.throwIfAborted()
  return await new Promise<T>((resolve, reject) => {
    const onAbort = (): void => { reject(signal.reason ?? new Error('aborted')) }
    signal.addEventListener('abort', onAbort, { once: true })
    p.then(resolve, reject).finally(() => { signal.removeEventListener('abort', onAbort) })
  })
}
