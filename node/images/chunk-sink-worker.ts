import { createHash } from 'node:crypto'
import { closeSync, constants, openSync, readSync, rmSync, writeSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'

// The thread behind node/images/chunk-sink.ts: checks each chunk against its manifest hash, writes it into the
// partial file, and feeds the whole-file sha256 in order. A chunk that arrives ahead of the hash's cursor is only
// written; the cursor reads it back from the file when it gets there, so nothing is held in memory and a resumed
// transfer's old chunks are hashed the same way. Self-contained (node: modules only): it runs outside the main
// thread's module graph.
//
// Whole chunks go to the file with O_DIRECT where the file system allows it: on this project's machine (a VM)
// writing 1 GiB through the page cache cost the kernel 2 s of CPU (fresh pages), direct writes 0.1 s
// (`dd bs=1M oflag=direct` against plain `dd`). Direct I/O needs buffers aligned in memory; JavaScript cannot see
// addresses, so the first aligned offset of the shared slots is found by trying direct writes (`probeAlignment`).
// A file system without O_DIRECT (tmpfs), a chunk size not a multiple of ALIGN, the last short chunk, or any direct
// write that fails: the ordinary descriptor, as before.

interface Init {
  path: string
  size: number
  chunkSize: number
  manifest: Uint8Array
  bitmap: Uint8Array
  /** slotCount + 1 chunks and `align` bytes of slack to align them in. */
  slots: SharedArrayBuffer
  slotCount: number
  /** Alignment of direct I/O offsets, lengths and buffers. */
  align: number
}
type Msg = { t: 'chunk', slot: number, index: number, len: number } | { t: 'finish' }

const init = workerData as Init
const ALIGN = init.align
const port = parentPort!
const total = Math.ceil(init.size / init.chunkSize)
const have = new Uint8Array(init.bitmap)
const fd = openSync(init.path, 'r+')
let direct = openDirect()
/** Byte offset of slot 0 in the shared buffer; slot `slotCount` is this thread's read-back scratch. */
const base = direct !== undefined ? probeAlignment() : 0
if (base < 0) dropDirect()
const whole = createHash('sha256')
let next = 0

const isSet = (i: number): boolean => (have[i >> 3] & (1 << (i & 7))) !== 0
const lenOf = (i: number): number => Math.min(init.chunkSize, init.size - i * init.chunkSize)
const slotView = (slot: number, len: number): Uint8Array => new Uint8Array(init.slots, Math.max(0, base) + slot * init.chunkSize, len)

function openDirect (): number | undefined {
  if (init.chunkSize % ALIGN !== 0 || constants.O_DIRECT === undefined) return undefined
  try { return openSync(init.path, constants.O_RDWR | constants.O_DIRECT) } catch { return undefined }
}

function dropDirect (): void {
  if (direct !== undefined) closeSync(direct)
  direct = undefined
}

/**
 * The first offset (a multiple of 16, under ALIGN) at which a direct write from the slots succeeds; -1 if none. It
 * writes a scratch file beside the partial file (same file system, same rules): a direct read of a hole, as in a
 * fresh partial file, succeeds at any alignment and would prove nothing.
 */
function probeAlignment (): number {
  const probe = `${init.path}.align-probe`
  let pfd: number
  try { pfd = openSync(probe, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT, 0o600) } catch { return -1 }
  try {
    for (let off = 0; off < ALIGN; off += 16) {
      try {
        writeSync(pfd, new Uint8Array(init.slots, off, ALIGN), 0, ALIGN, 0)
        return off
      } catch {}
    }
    return -1
  } finally {
    closeSync(pfd)
    rmSync(probe, { force: true })
  }
}

function matches (index: number, bytes: Uint8Array): boolean {
  const want = init.manifest.subarray(index * 32, index * 32 + 32)
  return Buffer.from(createHash('sha256').update(bytes).digest()).equals(want)
}

/** Runs `io` on the direct descriptor when the length allows, else (or when it fails) on the ordinary one. */
function onFile (len: number, io: (f: number) => void): void {
  if (direct !== undefined && len % ALIGN === 0) {
    try { io(direct); return } catch { dropDirect() }
  }
  io(fd)
}

function writeAll (bytes: Uint8Array, position: number): void {
  onFile(bytes.byteLength, f => {
    let done = 0
    while (done < bytes.byteLength) done += writeSync(f, bytes, done, bytes.byteLength - done, position + done)
  })
}

function readAll (into: Uint8Array, position: number): void {
  onFile(into.byteLength, f => {
    let filled = 0
    while (filled < into.byteLength) {
      const n = readSync(f, into, filled, into.byteLength - filled, position + filled)
      if (n === 0) throw new Error(`partial file ends inside chunk ${next}`)
      filled += n
    }
  })
}

function advance (): void {
  while (next < total && isSet(next)) {
    const scratch = slotView(init.slotCount, lenOf(next))
    readAll(scratch, next * init.chunkSize)
    whole.update(scratch)
    next++
  }
}

port.postMessage({ t: 'ready', base: Math.max(0, base), direct: direct !== undefined })

port.on('message', (m: Msg) => {
  if (m.t === 'chunk') {
    try {
      const bytes = slotView(m.slot, m.len)
      const ok = m.index < total && m.len === lenOf(m.index) && matches(m.index, bytes)
      if (ok && !isSet(m.index)) {
        writeAll(bytes, m.index * init.chunkSize)
        have[m.index >> 3] |= 1 << (m.index & 7)
        if (m.index === next) { whole.update(bytes); next++ }
        advance()
      }
      port.postMessage({ t: 'done', slot: m.slot, ok })
    } catch (err) {
      port.postMessage({ t: 'done', slot: m.slot, ok: false, error: String((err as Error)?.message ?? err) })
    }
  } else {
    try {
      advance()
      if (next < total) throw new Error(`digest stopped at chunk ${next} of ${total}`)
      port.postMessage({ t: 'digest', sha256: whole.digest('hex'), direct: direct !== undefined })
    } catch (err) {
      port.postMessage({ t: 'digest', error: String((err as Error)?.message ?? err) })
    } finally {
      closeSync(fd)
      dropDirect()
      port.close()
    }
  }
})
