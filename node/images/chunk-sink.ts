import { Worker } from 'node:worker_threads'

// Where a fetch's chunks go: a worker thread verifies each against its manifest hash, writes it into the partial
// file and hashes the whole file in order (node/images/chunk-sink-worker.ts). On the main thread a chunk costs one
// copy into a slot: sha256 twice over every byte and the file writes took about a third of the receiving thread
// (profile of simulations/bench/image-transfer.ts), the thread that also decrypts the stream. The slots bound memory
// and push back on the streams.
//
// The slots are plain ArrayBuffers the worker allocates (aligned for its direct writes) and that travel between the
// threads by transfer, one owner at a time: a copy into a SharedArrayBuffer goes through V8's relaxed-atomic copy,
// ~5x slower than memcpy (0.22 against 0.04 CPU s per GiB with the source in cache; 12% of the receiving thread in
// the bench's profile, where it was not). The worker keeps the slot of a chunk that arrived ahead of the whole-file
// hash's cursor (up to all slots but two) and hashes it from memory when the cursor gets there, instead of reading
// it back from the file (about 3 in 10 chunks of a 4-stream fetch are still read back: the streams drift apart).

export interface ChunkSinkInit {
  /** The partial file, already created at its full size. */
  path: string
  size: number
  chunkSize: number
  /** 32-byte sha256 of every chunk, in order. */
  manifest: Uint8Array
  /** Chunks already in the file (a resumed transfer): not written again, read back for the whole-file hash. */
  bitmap: Uint8Array
  /** Chunks in the worker's hands at once. Default 12. */
  slots?: number
  /**
   * Hash the whole file in order as well (a version 1 record names its content by that sha256). Default true. Off,
   * the worker hashes each chunk once and hands its slot straight back.
   */
  wholeFile?: boolean
}

export class ChunkSinkError extends Error {
  override readonly name = 'ChunkSinkError'
  readonly path: string
  constructor (path: string, message: string) {
    super(`${path}: ${message}`)
    this.path = path
  }
}

type Reply = { t: 'ready', slots: ArrayBuffer[], offsets: number[], direct: boolean } |
  /** `buf`: the slot comes back now; without it the worker holds it until a `free`. */
  { t: 'done', id: number, slot: number, ok: boolean, error?: string, buf?: ArrayBuffer } |
  { t: 'free', slot: number, buf: ArrayBuffer } |
  { t: 'digest', sha256?: string, direct?: boolean, error?: string, cpuMs?: number, readBack?: number }

/** Alignment the worker's direct I/O needs (a page: enough for any logical block size). */
const DIRECT_ALIGN = 4096

export class ChunkSink {
  readonly #init: ChunkSinkInit
  readonly #worker: Worker
  /** Slot buffers while this thread owns them, and where each chunk starts in its slot (aligned by the worker). */
  readonly #bufs: Array<ArrayBuffer | undefined> = []
  #offsets: number[] = []
  readonly #free: number[] = []
  readonly #waitingForSlot: Array<(slot: number) => void> = []
  /** By put: a slot the worker kept may come back (and carry another put) before the answer about its chunk. */
  readonly #pending = new Map<number, { resolve: (ok: boolean) => void, reject: (e: Error) => void }>()
  #puts = 0
  #digest: { resolve: (hex: string | undefined) => void, reject: (e: Error) => void } | undefined
  #dead: Error | undefined
  readonly #ready: Promise<void>
  #setReady: () => void = () => {}
  /** Whether the worker writes whole chunks with O_DIRECT: once it is ready, and still after finish (no write failed). */
  direct: boolean | undefined
  /** CPU milliseconds the worker thread spent, once finish has returned. */
  workerCpuMs: number | undefined
  /** Chunks the whole-file hash read back from the file rather than from a slot, once finish has returned. */
  readBackChunks: number | undefined

  constructor (init: ChunkSinkInit) {
    this.#init = init
    const n = Math.max(1, init.slots ?? 12)
    this.#ready = new Promise(resolve => { this.#setReady = resolve })
    this.#worker = new Worker(new URL('./chunk-sink-worker.ts', import.meta.url), {
      workerData: { path: init.path, size: init.size, chunkSize: init.chunkSize, manifest: init.manifest, bitmap: init.bitmap, slotCount: n, align: DIRECT_ALIGN, wholeFile: init.wholeFile ?? true }
    })
    this.#worker.on('message', (m: Reply) => { this.#onReply(m) })
    this.#worker.on('error', (err) => { this.#fail(new ChunkSinkError(init.path, `worker: ${err.message}`)) })
    this.#worker.on('exit', () => { this.#fail(new ChunkSinkError(init.path, 'worker exited')) })
  }

  /** Verifies and writes one chunk; resolves false when it does not match its manifest hash (nothing written). */
  async put (index: number, parts: readonly Uint8Array[], byteLength: number): Promise<boolean> {
    if (this.#dead !== undefined) throw this.#dead
    if (byteLength > this.#init.chunkSize) return false
    await this.#ready
    if (this.#dead !== undefined) throw this.#dead
    const slot = this.#free.pop() ?? await new Promise<number>(resolve => { this.#waitingForSlot.push(resolve) })
    const buf = this.#bufs[slot]
    if (this.#dead !== undefined || buf === undefined) throw this.#dead ?? new ChunkSinkError(this.#init.path, 'slot lost')
    const view = new Uint8Array(buf, this.#offsets[slot], byteLength)
    let off = 0
    for (const p of parts) { view.set(p, off); off += p.byteLength }
    this.#bufs[slot] = undefined
    const id = this.#puts++
    return await new Promise<boolean>((resolve, reject) => {
      this.#pending.set(id, { resolve, reject })
      this.#worker.postMessage({ t: 'chunk', id, slot, index, len: byteLength, buf }, [buf])
    })
  }

  /**
   * After the last put: the whole file's sha256 (hex), undefined when `wholeFile` is off. Throws when a chunk is
   * still missing. The worker then ends.
   */
  async finish (): Promise<string | undefined> {
    if (this.#dead !== undefined) throw this.#dead
    return await new Promise<string | undefined>((resolve, reject) => {
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
      this.#offsets = m.offsets
      m.slots.forEach((buf, slot) => { this.#release(slot, buf) })
      this.#setReady()
      return
    }
    if (m.t === 'digest') {
      if (m.direct !== undefined) this.direct = m.direct
      this.workerCpuMs = m.cpuMs
      this.readBackChunks = m.readBack
      const d = this.#digest
      this.#digest = undefined
      if (m.error === undefined) d?.resolve(m.sha256)
      else d?.reject(new ChunkSinkError(this.#init.path, m.error))
      return
    }
    if (m.buf !== undefined) this.#release(m.slot, m.buf)
    if (m.t === 'free') return
    const p = this.#pending.get(m.id)
    this.#pending.delete(m.id)
    if (m.error !== undefined) p?.reject(new ChunkSinkError(this.#init.path, m.error))
    else p?.resolve(m.ok)
  }

  #release (slot: number, buf: ArrayBuffer): void {
    this.#bufs[slot] = buf
    const next = this.#waitingForSlot.shift()
    if (next !== undefined) next(slot); else this.#free.push(slot)
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
    this.#setReady()
  }
}
