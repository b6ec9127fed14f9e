import type { MeshNode } from '../mesh/node.ts'
import { createImageResolver } from './resolve.ts'
import { fetchImage, ImageServer } from './transfer.ts'
import type { FetchResult, ServeHooks } from './transfer.ts'
import { Warehouse } from './warehouse.ts'

// What a daemon runs for images: the server answering peers from its warehouse, and the resolver its storage
// backends call for `baseImage "image:..."`, which fetches a missing image from the live peers of the mesh.
// Peers that announce the image (once announcements carry images) are asked first; until then every live peer
// is asked, which costs one small info request each.

export interface ImageServiceInit {
  node: Pick<MeshNode, 'rpc' | 'libp2p' | 'hosts' | 'peerId'>
  stateDir: string
  hooks?: ServeHooks
  /** Peer ids known to hold an image (from announcements); asked first. */
  holders?: (ref: string) => string[]
  onFetch?: (ref: string, result: FetchResult) => void
}

export class ImageService {
  readonly warehouse: Warehouse
  readonly server: ImageServer
  readonly #init: ImageServiceInit
  /** One fetch per image at a time: two VMs on one base image wait for the same transfer. */
  readonly #inflight = new Map<string, Promise<FetchResult>>()

  constructor (init: ImageServiceInit) {
    this.#init = init
    this.warehouse = new Warehouse(init.stateDir)
    this.server = new ImageServer(init.node.rpc, init.node.libp2p, this.warehouse, init.hooks)
  }

  async start (): Promise<void> {
    await this.warehouse.init()
    await this.server.start()
  }

  async stop (): Promise<void> { await this.server.stop() }

  /** Live peers, the known holders first. */
  candidates (ref: string): string[] {
    const alive = this.#init.node.hosts().filter(h => h.state === 'alive').map(h => h.peerId)
    const holders = (this.#init.holders?.(ref) ?? []).filter(p => alive.includes(p))
    return [...holders, ...alive.filter(p => !holders.includes(p))]
  }

  async fetch (ref: string, options: { signal?: AbortSignal } = {}): Promise<FetchResult> {
    let p = this.#inflight.get(ref)
    if (p == null) {
      p = fetchImage({ rpc: this.#init.node.rpc, streams: this.#init.node.libp2p, warehouse: this.warehouse, ref, peers: this.candidates(ref), signal: options.signal })
        .then(r => { this.#init.onFetch?.(ref, r); return r })
        .finally(() => { this.#inflight.delete(ref) })
      this.#inflight.set(ref, p)
    }
    return await p
  }

  /** The baseImage resolver for the storage backends: a path for `image:` values, fetching when needed. */
  resolver (): (value: string) => Promise<string> {
    return createImageResolver({ stateDir: this.#init.stateDir, fetch: async (ref, o) => { await this.fetch(ref, o) } })
  }

  /** For the host announcement: what this host can serve. */
  async held (): Promise<Array<{ id: string, names: string[], size: number }>> {
    return (await this.warehouse.list()).map(r => ({ id: r.id, names: r.names, size: r.size }))
  }
}
