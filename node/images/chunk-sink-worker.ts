import { createHash } from 'node:crypto'
import { closeSync, constants, openSync, readSync, rmSync, writeSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'

// The thread behind node/images/chunk-sink.ts: checks each chunk against its manifest hash, writes it into the
// partial file, and feeds the whole-file sha256 in order. A chunk that arrives ahead of the hash's cursor is kept in
// its slot (all slots but two at most, so the main thread always has a slot coming back for the chunk the cursor
// waits for) and hashed from there when the cursor reaches it; one that finds those slots taken is only written, and
// the cursor reads it back from the file, as it does a resumed transfer's old chunks. Self-contained (node: modules
// only): it runs outside the main thread's module graph.
//
// Whole chunks go to the file with O_DIRECT where the file system allows it: on this project's machine (a VM)
// writing 1 GiB through the page cache cost the kernel 2 s of CPU (fresh pages), direct writes 0.1 s
// (`dd bs=1M oflag=direct` against plain `dd`). Direct I/O needs buffers aligned in memory; JavaScript cannot see
// addresses, so this thread allocates the slots and finds the first aligned offset of each by trying direct writes
// (`probeAlignment`), then hands them to the main thread. A file system without O_DIRECT (tmpfs), a chunk size not a
// multiple of ALIGN, the last short chunk, or any direct write that fails: the ordinary descriptor.

interface Init {
  path: string
  size: number
  chunkSize: number
  manifest: Uint8Array
  bitmap: Uint8Array
  slotCount: number
  /** Alignment of direct I/O offsets, lengths and buffers. */
  align: number
  /** Hash the whole file in order too; without it a chunk's slot goes back as soon as it is written. */
  wholeFile: boolean
}
type Msg = { t: 'chunk', id: number, slot: number, index: number, len: number, buf: ArrayBuffer } | { t: 'finish' }

const init = workerData as Init
const ALIGN = init.align
const port = parentPort!
const total = Math.ceil(init.size / init.chunkSize)
const have = new Uint8Array(init.bitmap)
const fd = openSync(init.path, 'r+')
let direct = openDirect()
/** The slots, then (hashing the whole file) this thread's read-back scratch; each with ALIGN bytes of slack to align a chunk in. */
const buffers = Array.from({ length: init.slotCount + (init.wholeFile ? 1 : 0) }, () => new ArrayBuffer(init.chunkSize + ALIGN))
const offsets = direct !== undefined ? probeAlignment(buffers) : buffers.map(() => 0)
if (offsets.some(o => o < 0)) dropDirect()
for (let i = 0; i < offsets.length; i++) offsets[i] = Math.max(0, offsets[i])
const scratch = buffers[init.slotCount]
/** Chunks ahead of the cursor kept in their slots, by index. */
const held = new Map<number, { slot: number, buf: ArrayBuffer, len: number }>()
const maxHeld = init.wholeFile ? Math.max(0, init.slotCount - 2) : 0
const whole = createHash('sha256')
let next = 0
/** Chunks the cursor read back from the file (resumed, or arrived ahead when no slot could be kept). */
let readBack = 0

const isSet = (i: number): boolean => (have[i >> 3] & (1 << (i & 7))) !== 0
const lenOf = (i: number): number => Math.min(init.chunkSize, init.size - i * init.chunkSize)
const view = (slot: number, buf: ArrayBuffer, len: number): Uint8Array => new Uint8Array(buf, offsets[slot], len)

function openDirect (): number | undefined {
  if (init.chunkSize % ALIGN !== 0 || constants.O_DIRECT === undefined) return undefined
  try { return openSync(init.path, constants.O_RDWR | constants.O_DIRECT) } catch { return undefined }
}

function dropDirect (): void {
  if (direct !== undefined) closeSync(direct)
  direct = undefined
}

/**
 * For each buffer, the first offset (a multiple of 16, under ALIGN) at which a direct write from it succeeds; -1 if
 * none. It writes a scratch file beside the partial file (same file system, same rules): a direct read of a hole, as
 * in a fresh partial file, succeeds at any alignment and would prove nothing.
 */
function probeAlignment (bufs: ArrayBuffer[]): number[] {
  const probe = `${init.path}.align-probe`
  let pfd: number
  try { pfd = openSync(probe, constants.O_RDWR | constants.O_CREAT | constants.O_TRUNC | constants.O_DIRECT, 0o600) } catch { return bufs.map(() => -1) }
  try {
    return bufs.map(buf => {
      for (let off = 0; off < ALIGN; off += 16) {
        try {
          writeSync(pfd, new Uint8Array(buf, off, ALIGN), 0, ALIGN, 0)
          return off
        } catch {}
      }
      return -1
    })
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

/**
 * Moves the cursor over every chunk in: from its slot when held (the slot goes back), else from the file. Without
 * the whole-file hash it only counts.
 */
function advance (): void {
  while (next < total && isSet(next)) {
    if (!init.wholeFile) { next++; continue }
    const h = held.get(next)
    if (h !== undefined) {
      whole.update(view(h.slot, h.buf, h.len))
      held.delete(next)
      port.postMessage({ t: 'free', slot: h.slot, buf: h.buf }, [h.buf])
    } else {
      const into = view(init.slotCount, scratch, lenOf(next))
      readAll(into, next * init.chunkSize)
      whole.update(into)
      readBack++
    }
    next++
  }
}

port.postMessage({ t: 'ready', slots: buffers.slice(0, init.slotCount), offsets, direct: direct !== undefined }, buffers.slice(0, init.slotCount))
// A resumed transfer's first chunks are in already: the cursor passes them now, so chunks arriving next can be kept.
// A failing read is tried again, and reported, when a chunk or finish moves the cursor.
try { advance() } catch {}

port.on('message', (m: Msg) => {
  if (m.t === 'chunk') {
    let keep = false
    try {
      const bytes = view(m.slot, m.buf, m.len)
      const ok = m.index < total && m.len === lenOf(m.index) && matches(m.index, bytes)
      if (ok && !isSet(m.index)) {
        writeAll(bytes, m.index * init.chunkSize)
        have[m.index >> 3] |= 1 << (m.index & 7)
        if (m.index === next) { if (init.wholeFile) whole.update(bytes); next++ } else if (held.size < maxHeld) keep = true
        if (keep) held.set(m.index, { slot: m.slot, buf: m.buf, len: m.len })
        advance()
      }
      if (keep) port.postMessage({ t: 'done', id: m.id, slot: m.slot, ok })
      else port.postMessage({ t: 'done', id: m.id, slot: m.slot, ok, buf: m.buf }, [m.buf])
    } catch (err) {
      const error = String((err as Error)?.message ?? err)
      // A kept slot may already have gone back (the cursor passed it before the failure).
      const mine = !keep || held.delete(m.index)
      if (mine) port.postMessage({ t: 'done', id: m.id, slot: m.slot, ok: false, error, buf: m.buf }, [m.buf])
      else port.postMessage({ t: 'done', id: m.id, slot: m.slot, ok: false, error })
    }
  } else {
    try {
      advance()
      if (next < total) throw new Error(`digest stopped at chunk ${next} of ${total}`)
      const cpu = process.threadCpuUsage()
      port.postMessage({ t: 'digest', sha256: init.wholeFile ? whole.digest('hex') : undefined, direct: direct !== undefined, cpuMs: (cpu.user + cpu.system) / 1000, readBack })
    } catch (err) {
      port.postMessage({ t: 'digest', error: String((err as Error)?.message ?? err) })
    } finally {
      closeSync(fd)
      dropDirect()
      port.close()
    }
  }
})
