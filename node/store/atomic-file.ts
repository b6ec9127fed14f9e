import { mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

// Crash-safe JSON files: a reader after any crash sees either the old content or the new one, never a torn write.
// The sequence is the classic one: write a temp file beside the target, fsync it, rename over the target, then
// fsync the directory so the rename itself is durable.

export class StoreError extends Error {
  override readonly name = 'StoreError'
  readonly file: string
  constructor (file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options)
    this.file = file
  }
}

let tempCounter = 0

export async function writeFileAtomic (file: string, data: string | Uint8Array): Promise<void> {
  const dir = dirname(file)
  await mkdir(dir, { recursive: true })
  const temp = join(dir, `.${basename(file)}.${process.pid}.${++tempCounter}.tmp`)
  const fh = await open(temp, 'w', 0o600)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    await rename(temp, file)
  } catch (err) {
    await rm(temp, { force: true })
    throw new StoreError(file, 'rename failed', { cause: err })
  }
  await syncDir(dir)
}

export async function writeJsonAtomic (file: string, value: unknown): Promise<void> {
  // Compact: the pool file is rewritten on every durable step and a pool of 1,000 VMs makes it large.
  await writeFileAtomic(file, JSON.stringify(value) + '\n')
}

/** Undefined when the file does not exist; StoreError when it exists but is not JSON. */
export async function readJsonFile (file: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw new StoreError(file, 'cannot read', { cause: err })
  }
  try {
    return JSON.parse(text)
  } catch (err) {
    throw new StoreError(file, 'not valid JSON', { cause: err })
  }
}

/** Removes the file and makes the removal durable. */
export async function removeFileDurable (file: string): Promise<void> {
  await rm(file, { force: true })
  await syncDir(dirname(file)).catch(() => {})
}

async function syncDir (dir: string): Promise<void> {
  const dh = await open(dir, 'r')
  try {
    await dh.sync()
  } finally {
    await dh.close()
  }
}
