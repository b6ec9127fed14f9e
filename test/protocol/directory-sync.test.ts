import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import {
  decodeDigestRequest, decodeDigestResponse, decodeGetRequest, decodeGetResponse, encodeDigestRequest, encodeDigestResponse,
  encodeGetRequest, encodeGetResponse, MAX_GET_PEERS
} from '../../protocol/directory-sync.ts'
import type { DigestResponse, EntryVersion } from '../../protocol/directory-sync.ts'

const bytes = (s: string): Uint8Array => new TextEncoder().encode(s)

describe('directory sync wire format', () => {
  it('round-trips digests, version lists, get requests and announcement lists', () => {
    fc.assert(fc.property(
      fc.stringMatching(/^[0-9a-f]{1,64}$/),
      fc.array(fc.tuple(fc.string({ minLength: 1, maxLength: 60 }), fc.nat(), fc.nat()), { maxLength: 50 }),
      fc.array(fc.uint8Array({ maxLength: 300 }), { maxLength: MAX_GET_PEERS }),
      (digest, versions, anns) => {
        expect(decodeDigestRequest(encodeDigestRequest({ digest }))).toEqual({ digest })
        const res: DigestResponse = { same: false, versions: versions as EntryVersion[] }
        expect(decodeDigestResponse(encodeDigestResponse(res))).toEqual(res)
        expect(decodeDigestResponse(encodeDigestResponse({ same: true }))).toEqual({ same: true })
        const peers = versions.map(v => v[0]).slice(0, MAX_GET_PEERS)
        expect(decodeGetRequest(encodeGetRequest({ peers }))).toEqual({ peers })
        expect(decodeGetResponse(encodeGetResponse(anns)).map(a => [...a])).toEqual(anns.map(a => [...a]))
      }), { numRuns: 40 })
  })

  it('refuses what a correct peer never sends: unknown fields, non-hex digests, bad tuples, truncated or padded lists', () => {
    expect(() => decodeDigestRequest(bytes('{"digest":"ABC"}'))).toThrow(/hex/)
    expect(() => decodeDigestRequest(bytes('{"digest":"ab","x":1}'))).toThrow(/unknown field/)
    expect(() => decodeDigestRequest(bytes(`{"digest":"${'a'.repeat(300)}"}`))).toThrow(/exceeds the limit/)
    expect(() => decodeDigestResponse(bytes('{"same":false,"versions":[["p",1]]}'))).toThrow(/peerId, epoch, seq/)
    expect(() => decodeDigestResponse(bytes('{"same":false,"versions":[["p",1,-2]]}'))).toThrow(/outside/)
    expect(() => decodeDigestResponse(bytes('{"same":"yes","versions":[]}'))).toThrow(/boolean/)
    expect(() => decodeGetRequest(bytes(JSON.stringify({ peers: Array.from({ length: MAX_GET_PEERS + 1 }, () => 'p') })))).toThrow(/at most/)
    const good = encodeGetResponse([new Uint8Array([1, 2, 3]), new Uint8Array([4])])
    expect(() => decodeGetResponse(good.subarray(0, good.byteLength - 1))).toThrow(/truncated/)
    const padded = new Uint8Array(good.byteLength + 1); padded.set(good)
    expect(() => decodeGetResponse(padded)).toThrow(/trailing/)
    expect(() => decodeGetResponse(new Uint8Array([0xff, 0xff]))).toThrow(/at most/)
    expect(() => decodeGetResponse(new Uint8Array([0]))).toThrow(/truncated/)
  })
})
