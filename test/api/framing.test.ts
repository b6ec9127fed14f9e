import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { FrameDecoder, FrameTooLargeError, encodeFrame } from '../../node/api/framing.ts'

describe('control API framing', () => {
  it('decodes frames split at every byte boundary and glued together', () => {
    const values = [{ id: 1, op: 'ping' }, { id: 'x', text: 'héllo ✓', n: [1, 2, 3] }, null, 'str']
    const wire = Buffer.concat(values.map(v => encodeFrame(v)))
    for (let cut = 0; cut <= wire.length; cut++) {
      const d = new FrameDecoder()
      const got = [...d.push(wire.subarray(0, cut)), ...d.push(wire.subarray(cut))]
      expect(got).toEqual(values.map(value => ({ ok: true, value })))
      expect(d.buffered).toBe(0)
    }
  })

  it('refuses an oversized frame from its header, before the body arrives', () => {
    const d = new FrameDecoder(1024)
    const header = Buffer.alloc(4)
    header.writeUInt32BE(1025)
    expect(() => d.push(header)).toThrow(FrameTooLargeError)
    // Exactly at the limit is fine.
    const ok = new FrameDecoder(8)
    expect(ok.push(encodeFrame('123456'))).toEqual([{ ok: true, value: '123456' }])
  })

  it('refuses to encode a frame over the limit', () => {
    expect(() => encodeFrame('x'.repeat(100), 50)).toThrow(FrameTooLargeError)
  })

  it('reports bad JSON and bad UTF-8 as a decode error and stays in sync', () => {
    const bad = Buffer.from('{nope')
    const badUtf8 = Buffer.from([0xff, 0xfe])
    const frame = (b: Buffer): Buffer => { const h = Buffer.alloc(4); h.writeUInt32BE(b.length); return Buffer.concat([h, b]) }
    const d = new FrameDecoder()
    const got = d.push(Buffer.concat([frame(bad), frame(badUtf8), encodeFrame({ id: 2 })]))
    expect(got.map(g => g.ok)).toEqual([false, false, true])
    expect(got[0]!.ok === false && got[0]!.error.name).toBe('FrameDecodeError')
    expect(got[2]).toEqual({ ok: true, value: { id: 2 } })
  })

  it('round-trips any JSON value, whatever the chunking (property)', () => {
    fc.assert(fc.property(fc.array(fc.jsonValue(), { maxLength: 5 }), fc.array(fc.nat(64), { maxLength: 10 }), (values, cuts) => {
      const wire = Buffer.concat(values.map(v => encodeFrame(v)))
      const d = new FrameDecoder()
      const got = []
      let at = 0
      for (const c of cuts) { got.push(...d.push(wire.subarray(at, at + c))); at = Math.min(wire.length, at + c) }
      got.push(...d.push(wire.subarray(at)))
      // JSON turns -0 into 0: compare through JSON as the wire does.
      expect(got).toEqual(values.map(v => ({ ok: true, value: JSON.parse(JSON.stringify(v)) })))
    }), { numRuns: 300 })
  })
})
