import { createHash } from 'node:crypto'
import { open, rename, rm } from 'node:fs/promises'
import { dirname } from 'node:path'

// File helpers of the warehouse: crash-safe writes (temp file, fsync, rename, fsync of the directory) and a single
// pass over an image that yields both its whole-file sha256 and the sha256 of every chunk (the transfer manifest).

export const DEFAULT_CHUNK_SIZE = 1024 * 1024

export async function writeFileAtomic (path: string, data: string | Uint8Array): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`
  const fh = await open(tmp, 'w', 0o644)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    await rename(tmp, path)
  } catch (err) {
    await rm(tmp, { force: true })
    throw err
  }
  await syncDir(dirname(path))
}

export async function syncDir (dir: string): Promise<void> {
  const fh = await open(dir, 'r')
  try { await fh.sync() } catch {} finally { await fh.close() }
}

export interface FileDigest {
  sha256: string
  size: number
  chunkSize: number
  /** 32 bytes per chunk, in order. */
  chunkHashes: Buffer
}

/** Reads the file once, hashing it whole and chunk by chunk. */
export async function digestFile (path: string, chunkSize = DEFAULT_CHUNK_SIZE): Promise<FileDigest> {
  const whole = createHash('sha256')
  const hashes: Buffer[] = []
  const fh = await open(path, 'r')
  const buf = Buffer.allocUnsafe(chunkSize)
  let size = 0
  try {
    for (;;) {
      let filled = 0
      while (filled < chunkSize) {
        const { bytesRead } = await fh.read(buf, filled, chunkSize - filled, size + filled)
        if (bytesRead === 0) break
        filled += bytesRead
      }
      if (filled === 0) break
      const chunk = buf.subarray(0, filled)
      whole.update(chunk)
      hashes.push(createHash('sha256').update(chunk).digest())
      size += filled
      if (filled < chunkSize) break
    }
  } finally {
    await fh.close()
  }
  return { sha256: whole.digest('hex'), size, chunkSize, chunkHashes: Buffer.concat(hashes) }
}

export function manifestRootOf (chunkHashes: Uint8Array): string {
  return createHash('sha256').update(chunkHashes).digest('hex')
}

export function chunkCount (size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize)
}
