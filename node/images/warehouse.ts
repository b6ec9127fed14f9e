import { randomBytes } from 'node:crypto'
import { copyFile, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { ImageIntegrityError, ImageNotFoundError, ImageRefError } from './errors.ts'
import { chunkCount, contentRootOf, DEFAULT_CHUNK_SIZE, digestFile, manifestRootOf, syncDir, writeFileAtomic } from './files.ts'
import type { FileDigest } from './files.ts'
import { imageIdOf } from './params.ts'
import type { BuildParams, ImageFormat } from './params.ts'
import { IMAGE_ENTRY } from '../../protocol/image-names.ts'

// The content-addressed warehouse of one host: `<state>/images/<id>.<ext>` (the image), `<id>.chunks` (sha256 of
// every chunk, the transfer manifest) and `<id>.json` (the record). The record is written last, so an image exists
// exactly when its record does: a build or fetch that dies midway leaves at most an orphan file, never a record
// pointing at half an image. Files under construction live in `tmp/` and `partial/` and are renamed in at the end.
//
// Records are written as version 2: the content is named by its root (files.ts's contentRootOf, over the chunk
// hashes), which is also an imported image's id, so a fetcher checks chunks against a manifest that hashes to the
// root and needs no whole-file pass. Version 1 records (the content named by the whole file's sha256, an import's
// id) stay readable, servable and fetchable; fetching one still hashes the whole file.

interface RecordCommon {
  /** sha256 of the normalised build parameters; for an imported image, its content root (version 1: its sha256). */
  id: string
  format: ImageFormat
  size: number
  chunkSize: number
  names: string[]
  params: BuildParams | null
  source: 'build' | 'import' | 'fetch'
  createdAt: string
}

export interface ImageRecordV1 extends RecordCommon {
  v: 1
  /** sha256 of the image file. */
  sha256: string
  /** sha256 of the chunk hashes: binds the manifest to this record. */
  manifestRoot: string
}

export interface ImageRecordV2 extends RecordCommon {
  v: 2
  /** contentRootOf(size, chunkSize, chunk hashes): binds the manifest, and so the content, to this record. */
  root: string
  /** sha256 of the image file where this host hashed it whole (built or imported here); not kept by a fetch. */
  sha256?: string
}

export type ImageRecord = ImageRecordV1 | ImageRecordV2

/** The checksum a record names its content by: version 2's root, version 1's whole-file sha256. */
export function contentIdOf (r: ImageRecord): string { return r.v === 2 ? r.root : r.sha256 }

/** Whether `hashes` is the chunk manifest the record binds. */
export function manifestMatches (r: ImageRecord, hashes: Uint8Array): boolean {
  if (hashes.byteLength !== chunkCount(r.size, r.chunkSize) * 32) return false
  return r.v === 2 ? contentRootOf(r.size, r.chunkSize, hashes) === r.root : manifestRootOf(hashes) === r.manifestRoot
}

const ID = /^[0-9a-f]{64}$/
const NAME = IMAGE_ENTRY
const MIN_PREFIX = 8

export function extensionOf (format: ImageFormat): string { return format }

export function isImageId (s: string): boolean { return ID.test(s) }

export function isImageName (s: string): boolean { return NAME.test(s) && !ID.test(s) }

/** A record's id must follow from what it says: its parameters when built, its content when imported. */
export function checkRecordId (r: ImageRecord): void {
  const expected = r.params != null ? imageIdOf(r.params) : contentIdOf(r)
  if (expected !== r.id) throw new ImageIntegrityError(r.id, `record id does not match its ${r.params != null ? 'build parameters' : 'content checksum'}`)
  if (r.params != null && r.params.format !== r.format) throw new ImageIntegrityError(r.id, 'record format differs from its build parameters')
}

/** Validates an untrusted record (from a file or a peer); throws ImageIntegrityError. */
export function parseRecord (value: unknown, where: string): ImageRecord {
  const r = value as Partial<Omit<ImageRecordV1, 'v'> & Omit<ImageRecordV2, 'v'>> & { v?: unknown }
  const hex = (x: unknown): x is string => typeof x === 'string' && ID.test(x)
  const common = r != null && typeof r === 'object' && hex(r.id) &&
    ['tar.gz', 'raw', 'qcow2'].includes(r.format as string) && Number.isSafeInteger(r.size) && r.size! >= 0 &&
    Number.isSafeInteger(r.chunkSize) && r.chunkSize! >= 4096 && r.chunkSize! <= 16 * 1024 * 1024 &&
    Array.isArray(r.names) && r.names.every(n => typeof n === 'string' && isImageName(n)) &&
    (r.params === null || (typeof r.params === 'object' && r.params != null)) &&
    ['build', 'import', 'fetch'].includes(r.source as string) && typeof r.createdAt === 'string'
  const v1 = r?.v === 1 && hex(r.sha256) && hex(r.manifestRoot)
  const v2 = r?.v === 2 && hex(r.root) && (r.sha256 === undefined || hex(r.sha256))
  if (!common || !(v1 || v2)) throw new ImageIntegrityError(String(r?.id ?? '?'), `malformed record in ${where}`)
  // Only the known fields: a peer's extras are not stored or served on.
  const base: RecordCommon = { id: r.id!, format: r.format!, size: r.size!, chunkSize: r.chunkSize!, names: [...r.names!], params: r.params!, source: r.source!, createdAt: r.createdAt! }
  const record: ImageRecord = v1
    ? { v: 1, ...base, sha256: r.sha256!, manifestRoot: r.manifestRoot! }
    : { v: 2, ...base, root: r.root!, ...(r.sha256 !== undefined ? { sha256: r.sha256 } : {}) }
  checkRecordId(record)
  return record
}

export interface AddOptions {
  format: ImageFormat
  params: BuildParams | null
  names?: string[]
  source: ImageRecord['source']
  /** Moved into the warehouse when true (it must be on the same file system), copied otherwise. */
  move?: boolean
  /** Chunk size of the manifest (default DEFAULT_CHUNK_SIZE). */
  chunkSize?: number
  /** The file's digest when the caller has it already (an import derives its id from it). */
  digest?: FileDigest
}

export class Warehouse {
  readonly dir: string

  constructor (stateDir: string) {
    this.dir = join(stateDir, 'images')
  }

  get tmpDir (): string { return join(this.dir, 'tmp') }
  get partialDir (): string { return join(this.dir, 'partial') }

  async init (): Promise<void> {
    await mkdir(this.tmpDir, { recursive: true })
    await mkdir(this.partialDir, { recursive: true })
  }

  /** A fresh directory under tmp/ for one build or import; the caller removes it. */
  async makeTmp (label: string): Promise<string> {
    await this.init()
    const dir = join(this.tmpDir, `${label}-${randomBytes(6).toString('hex')}`)
    await mkdir(dir)
    return dir
  }

  imagePath (r: Pick<ImageRecord, 'id' | 'format'>): string { return join(this.dir, `${r.id}.${extensionOf(r.format)}`) }
  #recordPath (id: string): string { return join(this.dir, `${id}.json`) }
  #chunksPath (id: string): string { return join(this.dir, `${id}.chunks`) }

  async list (): Promise<ImageRecord[]> {
    let entries: string[]
    try { entries = await readdir(this.dir) } catch { return [] }
    const out: ImageRecord[] = []
    for (const e of entries.sort()) {
      if (!e.endsWith('.json') || !ID.test(e.slice(0, -5))) continue
      const r = await this.#readRecord(e.slice(0, -5))
      if (r != null) out.push(r)
    }
    return out
  }

  async has (id: string): Promise<boolean> { return (await this.#readRecord(id)) != null }

  async #readRecord (id: string): Promise<ImageRecord | undefined> {
    let text: string
    try { text = await readFile(this.#recordPath(id), 'utf8') } catch { return undefined }
    return parseRecord(JSON.parse(text), this.#recordPath(id))
  }

  /** Finds an image by id, unique id prefix (8+ hex digits) or name; with an `image:` prefix too. */
  async find (ref: string): Promise<ImageRecord | undefined> {
    const key = ref.startsWith('image:') ? ref.slice(6) : ref
    if (ID.test(key)) return await this.#readRecord(key)
    const all = await this.list()
    const named = all.find(r => r.names.includes(key))
    if (named != null) return named
    if (/^[0-9a-f]+$/.test(key) && key.length >= MIN_PREFIX) {
      const hits = all.filter(r => r.id.startsWith(key))
      if (hits.length > 1) throw new ImageRefError(ref, `prefix matches ${hits.length} images`)
      return hits[0]
    }
    return undefined
  }

  async get (ref: string): Promise<ImageRecord> {
    const r = await this.find(ref)
    if (r == null) throw new ImageNotFoundError(ref)
    return r
  }

  /** The chunk hashes of an image (32 bytes each). */
  async manifest (id: string): Promise<Buffer> {
    const r = await this.get(id)
    const bytes = await readFile(this.#chunksPath(id))
    if (!manifestMatches(r, bytes)) {
      throw new ImageIntegrityError(id, 'chunk manifest does not match the record')
    }
    return bytes
  }

  /**
   * Puts a finished image file in the warehouse under `id`. An id already present is returned as it is (the file
   * given is then left alone). The record is written last: a crash before it leaves no image.
   */
  async add (id: string, file: string, options: AddOptions): Promise<ImageRecord> {
    const existing = await this.#readRecord(id)
    if (existing != null) {
      if ((options.names ?? []).length > 0) return await this.#addNames(existing, options.names ?? [])
      return existing
    }
    await this.init()
    const digest = options.digest ?? await digestFile(file, options.chunkSize ?? DEFAULT_CHUNK_SIZE)
    const record: ImageRecordV2 = {
      v: 2,
      id,
      format: options.format,
      size: digest.size,
      chunkSize: digest.chunkSize,
      root: contentRootOf(digest.size, digest.chunkSize, digest.chunkHashes),
      sha256: digest.sha256,
      names: [],
      params: options.params,
      source: options.source,
      createdAt: new Date().toISOString()
    }
    checkRecordId(record)
    const dest = this.imagePath(record)
    if (options.move === true) {
      await rename(file, dest)
    } else {
      const tmp = join(await this.makeTmp('copy'), 'image')
      await copyFile(file, tmp)
      await fsyncFile(tmp)
      await rename(tmp, dest)
      await rm(join(tmp, '..'), { recursive: true, force: true })
    }
    await writeFileAtomic(this.#chunksPath(id), digest.chunkHashes)
    await writeFileAtomic(this.#recordPath(id), JSON.stringify(record, null, 2) + '\n')
    return await this.#addNames(record, options.names ?? [])
  }

  /** Copies a file in; its id is its content root (no build parameters to derive one from). */
  async importFile (file: string, options: { name?: string, format?: ImageFormat } = {}): Promise<ImageRecord> {
    const format = options.format ?? await detectFormat(file)
    const digest = await digestFile(file)
    const id = contentRootOf(digest.size, digest.chunkSize, digest.chunkHashes)
    return await this.add(id, file, { format, params: null, source: 'import', names: options.name != null ? [options.name] : [], digest })
  }

  /** Writes a copy of the image to `dest` (via a temp file beside it) after checking it against its checksum. */
  async exportTo (ref: string, dest: string): Promise<ImageRecord> {
    const r = await this.get(ref)
    const tmp = `${dest}.tmp-${randomBytes(4).toString('hex')}`
    try {
      await copyFile(this.imagePath(r), tmp)
      const d = await digestFile(tmp, r.chunkSize)
      if (!matchesDigest(r, d)) throw new ImageIntegrityError(r.id, 'file in the warehouse no longer matches its checksum')
      await rename(tmp, dest)
    } catch (err) {
      await rm(tmp, { force: true })
      throw err
    }
    return r
  }

  /** Removes an image (record first, so it stops existing before its file goes). */
  async remove (ref: string): Promise<ImageRecord> {
    const r = await this.get(ref)
    await rm(this.#recordPath(r.id), { force: true })
    await syncDir(this.dir)
    await rm(this.#chunksPath(r.id), { force: true })
    await rm(this.imagePath(r), { force: true })
    return r
  }

  /** Gives `name` to image `ref`; a name names one image, so it leaves whichever image had it. */
  async setName (ref: string, name: string): Promise<ImageRecord> {
    return await this.#addNames(await this.get(ref), [name])
  }

  async #addNames (record: ImageRecord, names: string[]): Promise<ImageRecord> {
    const wanted = names.filter(n => !record.names.includes(n))
    if (wanted.length === 0) return record
    for (const n of wanted) if (!isImageName(n)) throw new ImageRefError(n, 'a name is letters, digits, . _ + - (not 64 hex digits)')
    for (const other of await this.list()) {
      if (other.id === record.id || !other.names.some(n => wanted.includes(n))) continue
      const updated = { ...other, names: other.names.filter(n => !wanted.includes(n)) }
      await writeFileAtomic(this.#recordPath(other.id), JSON.stringify(updated, null, 2) + '\n')
    }
    const updated = { ...record, names: [...record.names, ...wanted].sort() }
    await writeFileAtomic(this.#recordPath(record.id), JSON.stringify(updated, null, 2) + '\n')
    return updated
  }

  /** Installs a fetched image whose every chunk was verified: `file` is moved in under the given record. */
  async installFetched (record: ImageRecord, file: string, chunkHashes: Uint8Array): Promise<ImageRecord> {
    const existing = await this.#readRecord(record.id)
    if (existing != null) return existing
    checkRecordId(record)
    await this.init()
    const fetched = { names: [], source: 'fetch' as const, createdAt: new Date().toISOString() }
    // A version 2 fetch checked the root, not the whole file: the sender's sha256 is not passed on as if it had been.
    const mine: ImageRecord = record.v === 1 ? { ...record, ...fetched } : { ...withoutSha256(record), ...fetched }
    await fsyncFile(file)
    await rename(file, this.imagePath(mine))
    await writeFileAtomic(this.#chunksPath(mine.id), chunkHashes)
    await writeFileAtomic(this.#recordPath(mine.id), JSON.stringify(mine, null, 2) + '\n')
    // Names come along, but never take a name away from an image this host already calls by it.
    const taken = new Set((await this.list()).flatMap(r => r.names))
    return await this.#addNames(mine, record.names.filter(n => !taken.has(n)))
  }

}

function withoutSha256 (r: ImageRecordV2): ImageRecordV2 {
  const { sha256: _unchecked, ...rest } = r
  return rest
}

/** Whether a file's digest is the content the record names (and its sha256, where the record has one). */
export function matchesDigest (r: ImageRecord, d: FileDigest): boolean {
  if (d.size !== r.size || d.chunkSize !== r.chunkSize) return false
  if (r.sha256 !== undefined && d.sha256 !== r.sha256) return false
  return r.v === 1 || contentRootOf(d.size, d.chunkSize, d.chunkHashes) === r.root
}

async function fsyncFile (path: string): Promise<void> {
  const fh = await open(path, 'r+')
  try { await fh.sync() } finally { await fh.close() }
}

/** By magic number: qcow2 ("QFI\xfb"), gzip (a tar.gz), else a raw disk. */
export async function detectFormat (file: string): Promise<ImageFormat> {
  const fh = await open(file, 'r')
  try {
    const b = Buffer.alloc(4)
    await fh.read(b, 0, 4, 0)
    if (b.equals(Buffer.from([0x51, 0x46, 0x49, 0xfb]))) return 'qcow2'
    if (b[0] === 0x1f && b[1] === 0x8b) return 'tar.gz'
    return 'raw'
  } finally {
    await fh.close()
  }
}
