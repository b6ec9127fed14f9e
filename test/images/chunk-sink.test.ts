import { createHash, randomBytes } from 'node:crypto'
import { closeSync, constants, openSync } from 'node:fs'
import { mkdtemp, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ChunkSink } from '../../node/images/chunk-sink.ts'

// The fetch's chunk sink: a real worker thread checking chunks against the manifest, writing the partial file and
// hashing the whole file in order, whatever order the chunks come in.

const CHUNK = 4096
let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'sdpeer-sink-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

const sha = (b: Uint8Array): Buffer => createHash('sha256').update(b).digest()
const chunkOf = (data: Buffer, i: number): Buffer => data.subarray(i * CHUNK, Math.min(data.byteLength, (i + 1) * CHUNK))

function manifestOf (data: Buffer): Buffer {
  const out: Buffer[] = []
  for (let i = 0; i * CHUNK < data.byteLength; i++) out.push(sha(chunkOf(data, i)))
  return Buffer.concat(out)
}

let n = 0
describe('ChunkSink', () => {
  it('writes the file and gives its sha256 (when asked) for any arrival order, split points, and chunks already on disk', async () => {
    const data = randomBytes(CHUNK * 13 + 77)
    const total = Math.ceil(data.byteLength / CHUNK)
    const manifest = manifestOf(data)
    await fc.assert(fc.asyncProperty(
      fc.shuffledSubarray([...Array(total).keys()], { minLength: total, maxLength: total }),
      fc.array(fc.boolean(), { minLength: total, maxLength: total }),
      fc.nat({ max: CHUNK }),
      fc.integer({ min: 1, max: 4 }),
      fc.boolean(),
      async (order, onDisk, cut, slots, wholeFile) => {
        const path = join(dir, `p${n++}.part`)
        // The earlier run's chunks are in the file already; the rest is zeros.
        const start = Buffer.alloc(data.byteLength)
        const bitmap = new Uint8Array(Math.ceil(total / 8))
        for (let i = 0; i < total; i++) if (onDisk[i]) { chunkOf(data, i).copy(start, i * CHUNK); bitmap[i >> 3] |= 1 << (i & 7) }
        await writeFile(path, start)
        const sink = new ChunkSink({ path, size: data.byteLength, chunkSize: CHUNK, manifest, bitmap, slots, wholeFile })
        try {
          const puts = order.filter(i => !onDisk[i]).map(async i => {
            const c = chunkOf(data, i)
            const parts = cut > 0 && cut < c.byteLength ? [c.subarray(0, cut), c.subarray(cut)] : [c]
            return await sink.put(i, parts, c.byteLength)
          })
          expect(await Promise.all(puts)).toEqual(puts.map(() => true))
          expect(await sink.finish()).toBe(wholeFile ? sha(data).toString('hex') : undefined)
          expect(sink.readBackChunks === 0 || wholeFile).toBe(true)
        } finally {
          await sink.close()
        }
        expect((await readFile(path)).equals(data)).toBe(true)
        await rm(path)
      }), { numRuns: 12 })
  })

  it('hashes chunks that land a little ahead of the cursor from their slots, without reading them back', async () => {
    const data = randomBytes(CHUNK * 12)
    const path = join(dir, 'ahead.part')
    await writeFile(path, Buffer.alloc(data.byteLength))
    const sink = new ChunkSink({ path, size: data.byteLength, chunkSize: CHUNK, manifest: manifestOf(data), bitmap: new Uint8Array(2), slots: 6 })
    try {
      // Four streams' worth of interleaving: each chunk at most three places early. 6 slots keep up to 4 ahead.
      const order = [3, 1, 2, 0, 7, 5, 4, 6, 11, 9, 8, 10]
      expect(await Promise.all(order.map(async i => await sink.put(i, [chunkOf(data, i)], CHUNK)))).toEqual(order.map(() => true))
      expect(await sink.finish()).toBe(sha(data).toString('hex'))
      expect(sink.readBackChunks).toBe(0)
    } finally {
      await sink.close()
    }
    // With no slot to spare (2 slots: none kept), the same order reads the early chunks back, same result.
    const again = new ChunkSink({ path: join(dir, 'ahead.part'), size: data.byteLength, chunkSize: CHUNK, manifest: manifestOf(data), bitmap: new Uint8Array(2), slots: 2 })
    try {
      for (const i of [3, 1, 2, 0]) expect(await again.put(i, [chunkOf(data, i)], CHUNK)).toBe(true)
      for (let i = 4; i < 12; i++) expect(await again.put(i, [chunkOf(data, i)], CHUNK)).toBe(true)
      expect(await again.finish()).toBe(sha(data).toString('hex'))
      expect(again.readBackChunks).toBe(3)
    } finally {
      await again.close()
    }
    expect((await readFile(path)).equals(data)).toBe(true)
  })

  it.each([true, false])('refuses a chunk that does not match its hash or length, writes nothing for it, and will not finish without it (whole-file hash: %s)', async (wholeFile) => {
    const data = randomBytes(CHUNK * 3)
    const path = join(dir, 'bad.part')
    await writeFile(path, '')
    await truncate(path, data.byteLength)
    const sink = new ChunkSink({ path, size: data.byteLength, chunkSize: CHUNK, manifest: manifestOf(data), bitmap: new Uint8Array(1), wholeFile })
    try {
      const bad = Buffer.from(chunkOf(data, 1))
      bad[100] ^= 0x40
      expect(await sink.put(1, [bad], CHUNK)).toBe(false)
      expect(await sink.put(1, [chunkOf(data, 1).subarray(0, 100)], 100)).toBe(false)
      expect(await sink.put(0, [chunkOf(data, 0)], CHUNK)).toBe(true)
      expect(await sink.put(2, [chunkOf(data, 2)], CHUNK)).toBe(true)
      expect((await readFile(path)).subarray(CHUNK, 2 * CHUNK).equals(Buffer.alloc(CHUNK))).toBe(true)
      await expect(sink.finish()).rejects.toMatchObject({ name: 'ChunkSinkError', message: expect.stringMatching(/chunk 1 of 3/) })
    } finally {
      await sink.close()
    }
    await expect(sink.put(1, [chunkOf(data, 1)], CHUNK)).rejects.toMatchObject({ name: 'ChunkSinkError' })
  })

  it('writes whole chunks with O_DIRECT where the file system takes it, the short last chunk through the page cache', async () => {
    const big = 4 * CHUNK
    const data = randomBytes(big * 5 + 1000)
    const total = 6
    const manifest = Buffer.concat([...Array(total).keys()].map(i => sha(data.subarray(i * big, (i + 1) * big))))
    const path = join(dir, 'direct.part')
    await writeFile(path, '')
    await truncate(path, data.byteLength)
    // What this machine's temporary directory allows: the sink must use direct I/O exactly when it can.
    let supported = true
    try { closeSync(openSync(path, constants.O_RDWR | constants.O_DIRECT)) } catch { supported = false }
    const sink = new ChunkSink({ path, size: data.byteLength, chunkSize: big, manifest, bitmap: new Uint8Array(1), slots: 2 })
    try {
      const puts = [5, 3, 0, 4, 1, 2].map(async i => await sink.put(i, [data.subarray(i * big, (i + 1) * big)], Math.min(big, data.byteLength - i * big)))
      expect(await Promise.all(puts)).toEqual([true, true, true, true, true, true])
      expect(await sink.finish()).toBe(sha(data).toString('hex'))
      expect(sink.direct).toBe(supported)
    } finally {
      await sink.close()
    }
    expect((await readFile(path)).equals(data)).toBe(true)
    await expect(readdir(dir)).resolves.not.toContain('direct.part.align-probe')
  })

  it('a chunk size that is not a multiple of a page never uses O_DIRECT', async () => {
    const data = randomBytes(3000)
    const path = join(dir, 'odd.part')
    await writeFile(path, Buffer.alloc(data.byteLength))
    const manifest = Buffer.concat([0, 1, 2].map(i => sha(data.subarray(i * 1000, (i + 1) * 1000))))
    const sink = new ChunkSink({ path, size: 3000, chunkSize: 1000, manifest, bitmap: new Uint8Array(1) })
    try {
      for (const i of [2, 0, 1]) expect(await sink.put(i, [data.subarray(i * 1000, (i + 1) * 1000)], 1000)).toBe(true)
      expect(sink.direct).toBe(false)
      expect(await sink.finish()).toBe(sha(data).toString('hex'))
    } finally {
      await sink.close()
    }
    expect((await readFile(path)).equals(data)).toBe(true)
  })
})
