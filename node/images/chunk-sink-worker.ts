import { createHash } from 'node:crypto'
import { closeSync, openSync, readSync, writeSync } from 'node:fs'
import { parentPort, workerData } from 'node:worker_threads'

// The thread behind node/images/chunk-sink.ts: checks each chunk against its manifest hash, writes it into the
// partial file, and feeds the whole-file sha256 in order. A chunk that arrives ahead of the hash's cursor is only
// written; the cursor reads it back from the file (the page cache, by then) when it gets there, so nothing is held
// in memory and a resumed transfer's old chunks are hashed the same way. Self-contained (node: modules only): it
// runs outside the main thread's module graph.

interface Init { path: string, size: number, chunkSize: number, manifest: Uint8Array, bitmap: Uint8Array, slots: SharedArrayBuffer }
type Msg = { t: 'chunk', slot: number, index: number, len: number } | { t: 'finish' }

const init = workerData as Init
const port = parentPort!
const total = Math.ceil(init.size / init.chunkSize)
const have = new Uint8Array(init.bitmap)
const fd = openSync(init.path, 'r+')
const whole = createHash('sha256')
const scratch = Buffer.allocUnsafe(init.chunkSize)
let next = 0

const isSet = (i: number): boolean => (have[i >> 3] & (1 << (i & 7))) !== 0
const lenOf = (i: number): number => Math.min(init.chunkSize, init.size - i * init.chunkSize)

function matches (index: number, bytes: Uint8Array): boolean {
  const want = init.manifest.subarray(index * 32, index * 32 + 32)
  return Buffer.from(createHash('sha256').update(bytes).digest()).equals(want)
}

function writeAll (bytes: Uint8Array, position: number): void {
  let done = 0
  while (done < bytes.byteLength) done += writeSync(fd, bytes, done, bytes.byteLength - done, position + done)
}

function advance (): void {
  while (next < total && isSet(next)) {
    const len = lenOf(next)
    let filled = 0
    while (filled < len) {
      const n = readSync(fd, scratch, filled, len - filled, next * init.chunkSize + filled)
      if (n === 0) throw new Error(`partial file ends inside chunk ${next}`)
      filled += n
    }
    whole.update(scratch.subarray(0, len))
    next++
  }
}

port.on('message', (m: Msg) => {
  if (m.t === 'chunk') {
    try {
      const bytes = new Uint8Array(init.slots, m.slot * init.chunkSize, m.len)
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
      port.postMessage({ t: 'digest', sha256: whole.digest('hex') }); if (process.env.XX_WCPU) { const t = process.threadCpuUsage(); writeSync(2, 'worker cpu ' + ((t.user + t.system) / 1e6).toFixed(2) + '\n') }
    } catch (err) {
      port.postMessage({ t: 'digest', error: String((err as Error)?.message ?? err) })
    } finally {
      closeSync(fd)
      port.close()
    }
  }
})
