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

/** A version 1 record's binding of its manifest (no domain, no size): see contentRootOf for version 2. */
export function manifestRootOf (chunkHashes: Uint8Array): string {
  return createHash('sha256').update(chunkHashes).digest('hex')
}

/**
 * What a version 2 record names its content by (and an imported image's id): sha256 over a domain tag, the size,
 * the chunk size and every chunk's sha256. Chunks checked against a manifest that hashes to it are the image,
 * so the fetcher needs no second pass over the whole file. The tag keeps it apart from the other ids: a build id
 * hashes JSON (`{`), and a version 1 import id hashes a file, which the fetcher refuses when the file begins with
 * this tag (a file made of another image's root input would otherwise carry that image's id).
 */
export const CONTENT_ROOT_TAG = 'sdpeer-image-content-root-v2\0'

export function contentRootOf (size: number, chunkSize: number, chunkHashes: Uint8Array): string {
  const dims = Buffer.alloc(12)
  dims.writeBigUInt64BE(BigInt(size), 0)
  dims.writeUInt32BE(chunkSize, 8)
  return createHash('sha256').update(CONTENT_ROOT_TAG).update(dims).update(chunkHashes).digest('hex')
}

export function chunkCount (size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize)
}
