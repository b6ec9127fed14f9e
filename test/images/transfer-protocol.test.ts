import { createHash, randomBytes } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { contentRootOf, manifestRootOf } from '../../node/images/files.ts'
import { imageIdOf, normaliseBuild } from '../../node/images/params.ts'
import { imageInfoProtocol } from '../../node/images/transfer-protocol.ts'
import type { ImageRecordV1, ImageRecordV2 } from '../../node/images/warehouse.ts'

// The info response as a peer sends it: both record versions are read; a record is believed only when its id follows
// from what it says, and only its known fields are kept.

const hashes = Buffer.concat([randomBytes(32), randomBytes(32)])
const size = 1024 * 1024 + 10
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
const wire = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))
const decode = (record: unknown): unknown => imageInfoProtocol.response.decode(wire({ record }))
const common = { format: 'raw' as const, size, chunkSize: 1024 * 1024, names: ['img'], params: null, source: 'import' as const, createdAt: '2026-12-07T00:00:00.000Z' }
const root = contentRootOf(size, 1024 * 1024, hashes)
const v2: ImageRecordV2 = { v: 2, id: root, root, ...common }
const fileSha = sha(randomBytes(8))
const v1: ImageRecordV1 = { v: 1, id: fileSha, sha256: fileSha, manifestRoot: manifestRootOf(hashes), ...common }

describe('image info response', () => {
  it('reads version 2 and version 1 records, and an answer that the peer has none', () => {
    expect(decode(v2)).toEqual({ record: v2 })
    expect(decode({ ...v2, sha256: fileSha })).toEqual({ record: { ...v2, sha256: fileSha } })
    expect(decode(v1)).toEqual({ record: v1 })
    expect(decode(null)).toEqual({ record: null })
  })

  it('refuses a record whose id does not follow from its root, checksum or parameters', async () => {
    expect(() => decode({ ...v2, root: sha(Buffer.from('other')) })).toThrow(expect.objectContaining({ name: 'ProtocolValidationError', path: 'record' }))
    expect(() => decode({ ...v1, sha256: root })).toThrow(expect.objectContaining({ name: 'ProtocolValidationError' }))
    const params = await normaliseBuild({ distro: 'debian', suite: 'bookworm', format: 'raw' })
    const built = { ...v2, id: imageIdOf(params), params, source: 'build' }
    expect(decode(built)).toEqual({ record: built })
    expect(() => decode({ ...built, id: root })).toThrow(/build parameters/)
  })

  it('refuses malformed records and drops unknown fields', () => {
    for (const bad of [{ ...v2, v: 3 }, { ...v2, root: 'x' }, { ...v2, sha256: 42 }, { ...v1, manifestRoot: undefined }, { ...v2, size: -1 }, { ...v2, chunkSize: 100 }, { ...v2, names: ['../x'] }]) {
      expect(() => decode(bad)).toThrow(expect.objectContaining({ name: 'ProtocolValidationError' }))
    }
    // A version 2 record carrying version 1's fields: they are not passed on.
    expect(decode({ ...v2, manifestRoot: v1.manifestRoot, extra: { a: 1 } })).toEqual({ record: v2 })
  })
})
