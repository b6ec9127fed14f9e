import { stat } from 'node:fs/promises'
import { join } from 'node:path'
import { readJsonFile, writeFileAtomic } from '../store/atomic-file.ts'
import { isPoolGlob, isPublicKeyText, isRole } from '../../protocol/auth/index.ts'
import type { Role, TrustEntry, TrustLookup } from '../../protocol/auth/index.ts'

// The operator keys this peer trusts, with their roles and pool globs: `STATE_DIR/trust.json`, mode 0600, written
// crash-safe (temp file, fsync, rename). The daemon holds one TrustStore and calls reloadIfChanged() before it
// verifies, so `sdpeer trust add` on the same host takes effect without a restart.

export const TRUST_FILE = 'trust.json'
const MAX_ENTRIES = 10_000
const MAX_GLOBS = 64

export class TrustStoreError extends Error {
  override readonly name = 'TrustStoreError'
  readonly file: string
  constructor (file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options)
    this.file = file
  }
}

export interface StoredTrustEntry extends TrustEntry {
  /** ISO time the key was added or last changed. */
  added: string
  comment?: string
}

interface TrustFile { v: 1, keys: StoredTrustEntry[] }

export function trustFilePath (stateDir: string): string {
  return join(stateDir, TRUST_FILE)
}

export class TrustStore implements TrustLookup {
  readonly file: string
  #entries = new Map<string, StoredTrustEntry>()
  // inode, mtime and size of the file last read: an atomic rename always changes the inode, whatever the fs's mtime grain.
  #version = ''
  #exists = false

  private constructor (file: string) {
    this.file = file
  }

  /** Loads `STATE_DIR/trust.json`; a missing file gives an empty store whose `exists` is false. */
  static async open (stateDir: string): Promise<TrustStore> {
    const store = new TrustStore(trustFilePath(stateDir))
    await store.reload()
    return store
  }

  /** Whether the file existed when last read: a daemon without a trust store refuses to start unless --insecure. */
  get exists (): boolean { return this.#exists }
  get size (): number { return this.#entries.size }

  lookup (key: string): TrustEntry | undefined {
    return this.#entries.get(key)
  }

  list (): StoredTrustEntry[] {
    return [...this.#entries.values()].sort((a, b) => a.added.localeCompare(b.added) || a.key.localeCompare(b.key))
  }

  /** Adds the key or changes its role and globs. Returns whether it was new. Validates; call save() after. */
  add (key: string, role: Role, pools: string[] = ['*'], options: { now?: Date, comment?: string } = {}): boolean {
    const entry = checkEntry({ key, role, pools, added: (options.now ?? new Date()).toISOString(), ...(options.comment !== undefined ? { comment: options.comment } : {}) }, this.file, 'new entry')
    const isNew = !this.#entries.has(key)
    if (isNew && this.#entries.size >= MAX_ENTRIES) throw new TrustStoreError(this.file, `holds ${MAX_ENTRIES} keys already`)
    this.#entries.set(key, entry)
    return isNew
  }

  remove (key: string): boolean {
    return this.#entries.delete(key)
  }

  async save (): Promise<void> {
    const data: TrustFile = { v: 1, keys: this.list() }
    await writeFileAtomic(this.file, JSON.stringify(data, null, 1) + '\n')
    this.#exists = true
    this.#version = await fileVersion(this.file)
  }

  /** Re-reads the file when it changed (inode, mtime or size) since the last read or save; returns whether it did. */
  async reloadIfChanged (): Promise<boolean> {
    if (await fileVersion(this.file) === this.#version) return false
    await this.reload()
    return true
  }

  async reload (): Promise<void> {
    let raw: unknown
    try {
      raw = await readJsonFile(this.file)
    } catch (err) {
      throw new TrustStoreError(this.file, (err as Error).message, { cause: err })
    }
    const entries = new Map<string, StoredTrustEntry>()
    if (raw === undefined) {
      this.#exists = false
      this.#version = ''
    } else {
      for (const e of parseTrustFile(raw, this.file).keys) {
        if (entries.has(e.key)) throw new TrustStoreError(this.file, `key ${e.key} is listed twice`)
        entries.set(e.key, e)
      }
      this.#exists = true
      this.#version = await fileVersion(this.file)
    }
    this.#entries = entries
  }
}

async function fileVersion (file: string): Promise<string> {
  try {
    const st = await stat(file)
    return `${st.ino}:${st.mtimeMs}:${st.size}`
  } catch {
    return ''
  }
}

function parseTrustFile (raw: unknown, file: string): TrustFile {
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new TrustStoreError(file, 'is not a trust store object')
  const o = raw as Record<string, unknown>
  if (o.v !== 1) throw new TrustStoreError(file, 'unknown trust store version (expected "v": 1)')
  if (!Array.isArray(o.keys)) throw new TrustStoreError(file, '"keys" must be an array')
  if (o.keys.length > MAX_ENTRIES) throw new TrustStoreError(file, `more than ${MAX_ENTRIES} keys`)
  return { v: 1, keys: o.keys.map((e, i) => checkEntry(e, file, `keys[${i}]`)) }
}

function checkEntry (e: unknown, file: string, where: string): StoredTrustEntry {
  if (typeof e !== 'object' || e === null || Array.isArray(e)) throw new TrustStoreError(file, `${where} is not an object`)
  const o = e as Record<string, unknown>
  if (!isPublicKeyText(o.key)) throw new TrustStoreError(file, `${where}.key is not an ed25519: public key`)
  if (!isRole(o.role)) throw new TrustStoreError(file, `${where}.role must be admin, operator or viewer`)
  if (!Array.isArray(o.pools) || o.pools.length === 0 || o.pools.length > MAX_GLOBS || !o.pools.every(isPoolGlob)) {
    throw new TrustStoreError(file, `${where}.pools must be 1 to ${MAX_GLOBS} pool globs (letters, digits, "_.-*?")`)
  }
  if (typeof o.added !== 'string' || o.added.length > 64) throw new TrustStoreError(file, `${where}.added must be a time`)
  if (o.comment !== undefined && (typeof o.comment !== 'string' || o.comment.length > 256)) throw new TrustStoreError(file, `${where}.comment must be a short string`)
  return { key: o.key, role: o.role, pools: [...o.pools], added: o.added, ...(o.comment !== undefined ? { comment: o.comment as string } : {}) }
}
