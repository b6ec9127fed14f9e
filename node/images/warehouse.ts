import { randomBytes } from 'node:crypto'
import { copyFile, mkdir, open, readdir, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { ImageIntegrityError, ImageNotFoundError, ImageRefError } from './errors.ts'
import { chunkCount, DEFAULT_CHUNK_SIZE, digestFile, manifestRootOf, syncDir, writeFileAtomic } from './files.ts'
import { imageIdOf } from './params.ts'
import type { BuildParams, ImageFormat } from './params.ts'
import { IMAGE_ENTRY } from '../../protocol/image-names.ts'

// The content-addressed warehouse of one host: `<state>/images/<id>.<ext>` (the image), `<id>.chunks` (sha256 of
// every chunk, the transfer manifest) and `<id>.json` (the record). The record is written last, so an image exists
// exactly when its record does: a build or fetch that dies midway leaves at most an orphan file, never a record
// pointing at half an image. Files under construction live in `tmp/` and `partial/` and are renamed in at the end.

export interface ImageRecord {
  v: 1
  /** sha256 of the normalised build parameters, or of the content for an imported image. */
  id: string
  format: ImageFormat
  /** sha256 of the image file. */
  sha256: string
  size: number
  chunkSize: number
  /** sha256 of the chunk hashes: binds the manifest to this record. */
  manifestRoot: string
  names: string[]
  params: BuildParams | null
  source: 'build' | 'import' | 'fetch'
  createdAt: string
}

const ID = /^[0-9a-f]{64}$/
const NAME = IMAGE_ENTRY
const MIN_PREFIX = 8

export function extensionOf (format: ImageFormat): string { return format }

export function isImageId (s: string): boolean { return ID.test(s) }

export function isImageName (s: string): boolean { return NAME.test(s) && !ID.test(s) }

/** A record's id must follow from what it says: its parameters when built, its content when imported. */
export function checkRecordId (r: ImageRecord): void {
  const expected = r.params != null ? imageIdOf(r.params) : r.sha256
  if (expected !== r.id) throw new ImageIntegrityError(r.id, `record id does not match its ${r.params != null ? 'build parameters' : 'content checksum'}`)
  if (r.params != null && r.params.format !== r.format) throw new ImageIntegrityError(r.id, 'record format differs from its build parameters')
}

/** Validates an untrusted record (from a file or a peer); throws ImageIntegrityError. */
export function parseRecord (value: unknown, where: string): ImageRecord {
  const r = value as ImageRecord
  const ok = r != null && typeof r === 'object' && r.v === 1 && typeof r.id === 'string' && ID.test(r.id) &&
    ['tar.gz', 'raw', 'qcow2'].includes(r.format) && typeof r.sha256 === 'string' && ID.test(r.sha256) &&
    Number.isSafeInteger(r.size) && r.size >= 0 && Number.isSafeInteger(r.chunkSize) && r.chunkSize >= 4096 &&
    r.chunkSize <= 16 * 1024 * 1024 && typeof r.manifestRoot === 'string' && ID.test(r.manifestRoot) &&
    Array.isArray(r.names) && r.names.every(n => typeof n === 'string' && isImageName(n)) &&
    (r.params === null || typeof r.params === 'object') && ['build', 'import', 'fetch'].includes(r.source)
  if (!ok) throw new ImageIntegrityError(String(r?.id ?? '?'), `malformed record in ${where}`)
  checkRecordId(r)
  return r
}

export interface AddOptions {
  format: ImageFormat
  params: BuildParams | null
  names?: string[]
  source: ImageRecord['source']
  /** Moved into the warehouse when true (it must be on the same file system), copied otherwise. */
  move?: boolean
  /** Known chunk hashes (a fetch has them verified already); computed from the file otherwise. */
  chunkSize?: number
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
    if (bytes.byteLength !== chunkCount(r.size, r.chunkSize) * 32 || manifestRootOf(bytes) !== r.manifestRoot) {
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
    const digest = await digestFile(file, options.chunkSize ?? DEFAULT_CHUNK_SIZE)
    const record: ImageRecord = {
      v: 1,
      id,
      format: options.format,
      sha256: digest.sha256,
      size: digest.size,
      chunkSize: digest.chunkSize,
      manifestRoot: manifestRootOf(digest.chunkHashes),
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

  /** Copies a file in; its id is its content's sha256 (no build parameters to derive one from). */
  async importFile (file: string, options: { name?: string, format?: ImageFormat } = {}): Promise<ImageRecord> {
    const format = options.format ?? await detectFormat(file)
    const digest = await digestFile(file)
    return await this.add(digest.sha256, file, { format, params: null, source: 'import', names: options.name != null ? [options.name] : [] })
  }

  /** Writes a copy of the image to `dest` (via a temp file beside it) after checking it against its checksum. */
  async exportTo (ref: string, dest: string): Promise<ImageRecord> {
    const r = await this.get(ref)
    const tmp = `${dest}.tmp-${randomBytes(4).toString('hex')}`
    try {
      await copyFile(this.imagePath(r), tmp)
      const d = await digestFile(tmp)
      if (d.sha256 !== r.sha256) throw new ImageIntegrityError(r.id, 'file in the warehouse no longer matches its checksum')
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
    const mine: ImageRecord = { ...record, names: [], source: 'fetch', createdAt: new Date().toISOString() }
    await fsyncFile(file)
    await rename(file, this.imagePath(mine))
    await writeFileAtomic(this.#chunksPath(mine.id), chunkHashes)
    await writeFileAtomic(this.#recordPath(mine.id), JSON.stringify(mine, null, 2) + '\n')
    // Names come along, but never take a name away from an image this host already calls by it.
    const taken = new Set((await this.list()).flatMap(r => r.names))
    return await this.#addNames(mine, record.names.filter(n => !taken.has(n)))
  }

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
