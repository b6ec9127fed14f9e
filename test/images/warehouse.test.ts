import { createHash, randomBytes } from 'node:crypto'
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { imageIdOf, normaliseBuild, parseSize } from '../../node/images/params.ts'
import { createImageResolver, resolveImageRef } from '../../node/images/resolve.ts'
import { parseRecord, Warehouse } from '../../node/images/warehouse.ts'
import { contentRootOf, digestFile } from '../../node/images/files.ts'
import { importLegacy } from '../../simulations/bench/legacy-image-record.ts'
import { fromDeb822, fromOneLine } from '../../node/images/mirror.ts'

let dir: string
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'sdpeer-wh-')) })
afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

async function file (name: string, content: Uint8Array | string): Promise<string> {
  const p = join(dir, name)
  await writeFile(p, content)
  return p
}

describe('image ids', () => {
  it('are the same for the same request however it is written, and differ when anything that matters differs', async () => {
    const f = await file('motd', 'hello\n')
    const a = imageIdOf(await normaliseBuild({ distro: 'debian', suite: 'bookworm', packages: ['vim', 'curl', 'curl'], files: [{ src: f, dest: '/etc/motd' }], format: 'raw' }))
    const b = imageIdOf(await normaliseBuild({ distro: 'debian', suite: 'bookworm', variant: 'minbase', packages: [' curl', 'vim'], files: [{ src: f, dest: '/etc/motd' }], format: 'raw', sizeBytes: parseSize('2G') }))
    expect(a).toBe(b)
    expect(a).toMatch(/^[0-9a-f]{64}$/)
    const other = [
      { distro: 'debian', suite: 'trixie', packages: ['vim', 'curl'], files: [{ src: f, dest: '/etc/motd' }], format: 'raw' as const },
      { distro: 'debian', suite: 'bookworm', packages: ['vim'], files: [{ src: f, dest: '/etc/motd' }], format: 'raw' as const },
      { distro: 'debian', suite: 'bookworm', packages: ['vim', 'curl'], files: [{ src: f, dest: '/etc/motd' }], format: 'qcow2' as const },
      { distro: 'debian', suite: 'bookworm', packages: ['vim', 'curl'], files: [{ src: f, dest: '/etc/motd' }], format: 'raw' as const, sizeBytes: parseSize('3G') }
    ]
    const ids = new Set([a])
    for (const req of other) ids.add(imageIdOf(await normaliseBuild(req)))
    expect(ids.size).toBe(1 + other.length)
    // The file's content, not its path, is part of the id.
    await writeFile(f, 'changed\n')
    expect(imageIdOf(await normaliseBuild({ distro: 'debian', suite: 'bookworm', packages: ['vim', 'curl'], files: [{ src: f, dest: '/etc/motd' }], format: 'raw' }))).not.toBe(a)
  })

  it('refuses bad parameters by field', async () => {
    await expect(normaliseBuild({ distro: 'fedora', suite: 'bookworm', format: 'raw' })).rejects.toMatchObject({ name: 'ImageParamsError', field: 'distro' })
    await expect(normaliseBuild({ distro: 'debian', suite: 'bookworm', packages: ['a;rm -rf /'], format: 'raw' })).rejects.toMatchObject({ name: 'ImageParamsError', field: 'packages' })
    await expect(normaliseBuild({ distro: 'debian', suite: 'bookworm', files: [{ src: '/etc/hostname', dest: '/etc/../x' }], format: 'raw' })).rejects.toMatchObject({ name: 'ImageParamsError', field: 'file' })
    await expect(normaliseBuild({ distro: 'debian', suite: 'bookworm', rootPasswordHash: 'plain', format: 'raw' })).rejects.toMatchObject({ name: 'ImageParamsError', field: 'root-password-hash' })
    expect(() => parseSize('2X')).toThrow(/size/)
    expect(parseSize('512M')).toBe(512 * 1024 * 1024)
  })
})

describe('the warehouse', () => {
  it('imports content-addressed, idempotently, and exports a verified copy', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17)
    const src = await file('disk.raw', data)
    const w = new Warehouse(join(dir, 'state'))
    const r = await w.importFile(src, { name: 'test-disk' })
    // The id is the content root: sha256 over a tag, the size, the chunk size and each 1 MiB chunk's sha256.
    const chunks = [0, 1, 2, 3].map(i => createHash('sha256').update(data.subarray(i << 20, (i + 1) << 20)).digest())
    const dims = Buffer.alloc(12)
    dims.writeBigUInt64BE(BigInt(data.length), 0)
    dims.writeUInt32BE(1 << 20, 8)
    const root = sha(Buffer.concat([Buffer.from('sdpeer-image-content-root-v2\0'), dims, ...chunks]))
    expect(r).toMatchObject({ v: 2, id: root, root, sha256: sha(data), size: data.length, format: 'raw', names: ['test-disk'], source: 'import' })
    expect((await w.manifest(r.id)).equals(Buffer.concat(chunks))).toBe(true)
    const again = await w.importFile(src)
    expect(again.id).toBe(r.id)
    expect((await w.list()).length).toBe(1)
    expect((await readdir(w.dir)).filter(f => f.startsWith(r.id)).sort()).toEqual([`${r.id}.chunks`, `${r.id}.json`, `${r.id}.raw`])
    const out = join(dir, 'out.raw')
    await w.exportTo('test-disk', out)
    expect(sha(await readFile(out))).toBe(r.sha256)
    // A file damaged in place is caught on export, and no half copy is left at the destination.
    const damaged = Buffer.from(data)
    damaged[5] ^= 1
    await writeFile(w.imagePath(r), damaged)
    await expect(w.exportTo(r.id, join(dir, 'bad.raw'))).rejects.toMatchObject({ name: 'ImageIntegrityError' })
    expect((await readdir(dir)).filter(f => f.startsWith('bad.raw'))).toEqual([])
  })

  it('detects qcow2 and tar.gz by their magic numbers', async () => {
    const w = new Warehouse(join(dir, 'state'))
    const q = await w.importFile(await file('a', Buffer.concat([Buffer.from([0x51, 0x46, 0x49, 0xfb]), randomBytes(100)])))
    const t = await w.importFile(await file('b', Buffer.concat([Buffer.from([0x1f, 0x8b]), randomBytes(100)])))
    expect([q.format, t.format]).toEqual(['qcow2', 'tar.gz'])
    expect(w.imagePath(q)).toMatch(/\.qcow2$/)
  })

  it('maps names and prefixes to ids; a name moves to the image that takes it; rm forgets the image', async () => {
    const w = new Warehouse(join(dir, 'state'))
    const a = await w.importFile(await file('a', 'image a'), { name: 'debian-bookworm-minbase' })
    const b = await w.importFile(await file('b', 'image b'))
    expect((await w.get('image:debian-bookworm-minbase')).id).toBe(a.id)
    expect((await w.get(b.id.slice(0, 10))).id).toBe(b.id)
    await w.setName(b.id, 'debian-bookworm-minbase')
    expect((await w.get('debian-bookworm-minbase')).id).toBe(b.id)
    expect((await w.get(a.id)).names).toEqual([])
    expect(await resolveImageRef('image:debian-bookworm-minbase', { stateDir: join(dir, 'state') })).toBe(w.imagePath(b))
    expect(await resolveImageRef('/plain/path.img', { stateDir: join(dir, 'state') })).toBe('/plain/path.img')
    await w.remove('debian-bookworm-minbase')
    await expect(w.get(b.id)).rejects.toMatchObject({ name: 'ImageNotFoundError', ref: b.id })
    await expect(createImageResolver({ stateDir: join(dir, 'state') })('image:debian-bookworm-minbase')).rejects.toMatchObject({ name: 'ImageNotFoundError' })
    expect((await readdir(w.dir)).filter(f => f.startsWith(b.id))).toEqual([])
  })

  it('asks the fetcher for an image it lacks, then resolves it', async () => {
    const stateDir = join(dir, 'state')
    const src = await file('remote', 'remote image')
    const asked: string[] = []
    const path = await resolveImageRef('image:from-mesh', {
      stateDir,
      fetch: async (ref) => { asked.push(ref); await new Warehouse(stateDir).importFile(src, { name: 'from-mesh' }) }
    })
    expect(asked).toEqual(['image:from-mesh'])
    expect(await readFile(path, 'utf8')).toBe('remote image')
  })

  it('does not believe a record whose id does not follow from its content or parameters', async () => {
    const w = new Warehouse(join(dir, 'state'))
    const r = await w.importFile(await file('a', 'x'))
    const forged = { ...r, root: sha(Buffer.from('y')) }
    expect(() => parseRecord(forged, 'test')).toThrow(expect.objectContaining({ name: 'ImageIntegrityError' }))
    expect(() => parseRecord({ ...r, v: 3 }, 'test')).toThrow(/malformed/)
    expect(() => parseRecord({ ...r, root: undefined }, 'test')).toThrow(/malformed/)
    // Fields a record does not have are dropped, not kept and served on.
    expect(parseRecord({ ...r, extra: 'x' }, 'test')).toEqual(r)
    const params = await normaliseBuild({ distro: 'debian', suite: 'bookworm', format: 'raw' })
    expect(() => parseRecord({ ...r, params }, 'test')).toThrow(/build parameters/)
    expect(parseRecord({ ...r, id: imageIdOf(params), params }, 'test').id).toBe(imageIdOf(params))
    expect(() => parseRecord({ ...r, names: ['../x'] }, 'test')).toThrow(/malformed/)
  })

  it('reads, lists, serves the manifest of and exports version 1 records (named by the whole file\'s sha256)', async () => {
    const w = new Warehouse(join(dir, 'state'))
    const data = randomBytes(2 * 1024 * 1024 + 5)
    const src = await file('old.raw', data)
    const legacy = await importLegacy(w, src, ['old'])
    expect(legacy).toMatchObject({ v: 1, id: sha(data), sha256: sha(data) })
    expect(await w.get('old')).toEqual(legacy)
    expect((await w.manifest(legacy.id)).byteLength).toBe(3 * 32)
    await w.exportTo('old', join(dir, 'old-out.raw'))
    expect(sha(await readFile(join(dir, 'old-out.raw')))).toBe(legacy.id)
    expect(() => parseRecord({ ...legacy, sha256: sha(Buffer.from('y')) }, 'test')).toThrow(/content checksum/)
    // The same bytes imported now get a version 2 record beside it, under their content root.
    const d = await digestFile(src)
    const now = await w.importFile(src)
    expect(now).toMatchObject({ v: 2, id: contentRootOf(d.size, d.chunkSize, d.chunkHashes), sha256: legacy.sha256 })
    expect((await w.list()).map(r => r.v).sort()).toEqual([1, 2])
  })
})

describe('the apt mirror', () => {
  it('is read from one-line and deb822 sources, skipping security and disabled entries', () => {
    expect(fromOneLine('# c\ndeb http://security.example/debian-security bookworm-security main\ndeb [arch=amd64] http://m.example/debian bookworm main\n')).toBe('http://m.example/debian')
    expect(fromDeb822('Types: deb\nURIs: http://a.example/debian\nSuites: bookworm\nEnabled: no\n\nTypes: deb-src deb\nURIs: http://b.example/debian\nSuites: bookworm bookworm-updates\n')).toBe('http://b.example/debian')
    expect(fromDeb822('Types: deb\nURIs: http://s.example/debian-security\nSuites: bookworm-security\n')).toBeUndefined()
  })
})
