import { open, readFile, rename, unlink } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'

// Crash-safe JSON files for the sim's domain table: a daemon killed with SIGKILL mid-write must leave either the old
// table or the new one, never half of one. Write to a temp file in the same directory, fsync it, rename it over the
// old one, fsync the directory so the rename itself survives a power cut.

export async function writeJsonAtomic (path: string, value: unknown): Promise<void> {
  // Compact: the table is rewritten after every start and stop, and grows with the domains.
  const text = JSON.stringify(value) + '\n'
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
  const fh = await open(tmp, 'w', 0o600)
  try {
    await fh.writeFile(text)
    await fh.sync()
  } finally {
    await fh.close()
  }
  try {
    await rename(tmp, path)
  } catch (e) {
    await unlink(tmp).catch(() => {})
    throw e
  }
  const dh = await open(dirname(path), 'r')
  try { await dh.sync() } catch { /* some file systems refuse fsync on a directory; the rename is done anyway */ } finally { await dh.close() }
}

/** The parsed file, or undefined when it does not exist yet. */
export async function readJson (path: string): Promise<unknown> {
  let text: string
  try {
    text = await readFile(path, 'utf8')
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
  return JSON.parse(text)
}

/**
 * Coalesces writes: callers ask for "the current state is on disk" and share one write when they ask while another
 * is in flight, so 200 domains starting at once cost a handful of fsyncs, not 200.
 */
export class CoalescingWriter {
  readonly #write: () => Promise<void>
  #inFlight: Promise<void> | undefined
  #next: Promise<void> | undefined

  constructor (write: () => Promise<void>) { this.#write = write }

  /** Resolves once a write that started after this call has completed. */
  flush (): Promise<void> {
    if (this.#next !== undefined) return this.#next
    if (this.#inFlight === undefined) {
      this.#inFlight = this.#write().finally(() => { this.#inFlight = undefined })
      return this.#inFlight
    }
    this.#next = this.#inFlight.catch(() => {}).then(() => { this.#next = undefined; return this.flush() })
    return this.#next
  }
}
