import { Worker } from 'node:worker_threads'

// Where a fetch's chunks go: a worker thread verifies each against its manifest hash, writes it into the partial
// file and hashes the whole file in order (node/images/chunk-sink-worker.ts). On the main thread a chunk costs one
// copy into a shared slot: sha256 twice over every byte and the file writes took about a third of the receiving
// thread (profile of simulations/bench/image-transfer.ts), the thread that also decrypts the stream. The slots
// bound memory and push back on the streams.

export interface ChunkSinkInit {
  /** The partial file, already created at its full size. */
  path: string
  size: number
  chunkSize: number
  /** 32-byte sha256 of every chunk, in order. */
  manifest: Uint8Array
  /** Chunks already in the file (a resumed transfer): not written again, read back for the whole-file hash. */
  bitmap: Uint8Array
  /** Chunks in the worker's hands at once. Default 8. */
  slots?: number
}

export class ChunkSinkError extends Error {
  override readonly name = 'ChunkSinkError'
  readonly path: string
  constructor (path: string, message: string) {
    super(`${path}: ${message}`)
    this.path = path
  }
}

type Reply = { t: 'ready', base: number, direct: boolean } | { t: 'done', slot: number, ok: boolean, error?: string } | { t: 'digest', sha256?: string, direct?: boolean, error?: string }

/** Alignment the worker's direct I/O needs (a page: enough for any logical block size). */
const DIRECT_ALIGN = 4096

export class ChunkSink {
  readonly #init: ChunkSinkInit
  readonly #worker: Worker
  readonly #slots: SharedArrayBuffer
  readonly #free: number[]
  readonly #waitingForSlot: Array<(slot: number) => void> = []
  readonly #pending = new Map<number, { resolve: (ok: boolean) => void, reject: (e: Error) => void }>()
  #digest: { resolve: (hex: string) => void, reject: (e: Error) => void } | undefined
  #dead: Error | undefined
  /** Where slot 0 starts in the shared buffer (aligned for the worker's direct writes), once the worker says. */
  readonly #base: Promise<number>
  #setBase: (base: number) => void = () => {}
  /** Whether the worker writes whole chunks with O_DIRECT: once it is ready, and still after finish (no write failed). */
  direct: boolean | undefined

  constructor (init: ChunkSinkInit) {
    this.#init = init
    const n = Math.max(1, init.slots ?? 8)
    // One slot more, the worker's read-back scratch, and slack to align the slots in.
    this.#slots = new SharedArrayBuffer((n + 1) * init.chunkSize + DIRECT_ALIGN)
    this.#free = [...Array(n).keys()]
    this.#base = new Promise(resolve => { this.#setBase = resolve })
    this.#worker = new Worker(new URL('./chunk-sink-worker.ts', import.meta.url), {
      workerData: { path: init.path, size: init.size, chunkSize: init.chunkSize, manifest: init.manifest, bitmap: init.bitmap, slots: this.#slots, slotCount: n, align: DIRECT_ALIGN }
    })
    this.#worker.on('message', (m: Reply) => { this.#onReply(m) })
    this.#worker.on('error', (err) => { this.#fail(new ChunkSinkError(init.path, `worker: ${err.message}`)) })
    this.#worker.on('exit', () => { this.#fail(new ChunkSinkError(init.path, 'worker exited')) })
  }

  /** Verifies and writes one chunk; resolves false when it does not match its manifest hash (nothing written). */
  async put (index: number, parts: readonly Uint8Array[], byteLength: number): Promise<boolean> {
    if (this.#dead !== undefined) throw this.#dead
    if (byteLength > this.#init.chunkSize) return false
    const slot = this.#free.pop() ?? await new Promise<number>(resolve => { this.#waitingForSlot.push(resolve) })
    const base = await this.#base
    if (this.#dead !== undefined) throw this.#dead
    const view = new Uint8Array(this.#slots, base + slot * this.#init.chunkSize, byteLength)
    let off = 0
    for (const p of parts) { view.set(p, off); off += p.byteLength }
    return await new Promise<boolean>((resolve, reject) => {
      this.#pending.set(slot, { resolve, reject })
      this.#worker.postMessage({ t: 'chunk', slot, index, len: byteLength })
    })
  }

  /** After the last put: the whole file's sha256 (hex). The worker then ends. */
  async finish (): Promise<string> {
    if (this.#dead !== undefined) throw this.#dead
    return await new Promise<string>((resolve, reject) => {
      this.#digest = { resolve, reject }
      this.#worker.postMessage({ t: 'finish' })
    })
  }

  /** Stops the worker (after finish, or to abandon the transfer). */
  async close (): Promise<void> {
    this.#fail(new ChunkSinkError(this.#init.path, 'closed'))
    await this.#worker.terminate()
  }

  #onReply (m: Reply): void {
    if (m.t === 'ready') {
      this.direct = m.direct
      this.#setBase(m.base)
      return
    }
    if (m.t === 'digest') {
      if (m.direct !== undefined) this.direct = m.direct
      const d = this.#digest
      this.#digest = undefined
      if (m.sha256 !== undefined) d?.resolve(m.sha256)
      else d?.reject(new ChunkSinkError(this.#init.path, m.error ?? 'no digest'))
      return
    }
    const p = this.#pending.get(m.slot)
    this.#pending.delete(m.slot)
    const next = this.#waitingForSlot.shift()
    if (next !== undefined) next(m.slot); else this.#free.push(m.slot)
    if (m.error !== undefined) p?.reject(new ChunkSinkError(this.#init.path, m.error))
    else p?.resolve(m.ok)
  }

  #fail (err: Error): void {
    if (this.#dead !== undefined) return
    this.#dead = err
    for (const p of this.#pending.values()) p.reject(err)
    this.#pending.clear()
    this.#digest?.reject(err)
    this.#digest = undefined
    // Waiters for a slot (or for the worker to be ready) wake to find the sink dead.
    for (const w of this.#waitingForSlot.splice(0)) w(-1)
    this.#setBase(0)
  }
}
