import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { decodeMembershipMessage, encodeMembershipMessage, membershipMessageSize, validateMembershipMessage } from '../../protocol/membership.ts'
import type { MembershipMessage, MemberUpdate } from '../../protocol/membership.ts'
import { MAX_MEMBERSHIP_MESSAGE_BYTES } from '../../protocol/limits.ts'

const update: fc.Arbitrary<MemberUpdate> = fc.record({
  status: fc.constantFrom('alive', 'suspect', 'dead'),
  id: fc.string({ minLength: 1, maxLength: 60 }),
  inc: fc.nat({ max: 2 ** 32 }),
  addrs: fc.option(fc.array(fc.string({ minLength: 1, maxLength: 80 }), { maxLength: 4 }), { nil: undefined }),
  from: fc.option(fc.string({ minLength: 1, maxLength: 60 }), { nil: undefined })
}, { requiredKeys: ['status', 'id', 'inc'] }) as fc.Arbitrary<MemberUpdate>

const message: fc.Arbitrary<MembershipMessage> = fc.oneof(
  fc.record({ type: fc.constant('ping-req' as const), seq: fc.nat(), target: fc.string({ minLength: 1, maxLength: 60 }), targetAddrs: fc.array(fc.string({ minLength: 1, maxLength: 80 }), { maxLength: 4 }), updates: fc.array(update, { maxLength: 8 }) }),
  fc.record({ type: fc.constant('ind-ack' as const), seq: fc.nat(), target: fc.string({ minLength: 1, maxLength: 60 }), ok: fc.boolean(), updates: fc.array(update, { maxLength: 8 }) }),
  fc.record({ type: fc.constant('gossip' as const), updates: fc.array(update, { maxLength: 8 }) }),
  fc.record({ type: fc.constant('push-pull' as const), join: fc.boolean(), reply: fc.boolean(), members: fc.array(update, { maxLength: 20 }) })
)

describe('membership wire messages', () => {
  it('round-trip through the codec, and the computed size is the encoded size', () => {
    fc.assert(fc.property(message, (m) => {
      const bytes = encodeMembershipMessage(m)
      expect(decodeMembershipMessage(bytes)).toEqual(JSON.parse(JSON.stringify(m)))
      expect(membershipMessageSize(m)).toBe(bytes.byteLength)
    }), { numRuns: 300 })
  })

  it.each([
    ['unknown type', { type: 'nuke' }, 'type'],
    ['missing seq', { type: 'ping-req', target: 'a', targetAddrs: [], updates: [] }, 'seq'],
    ['negative incarnation', { type: 'gossip', updates: [{ status: 'alive', id: 'a', inc: -1 }] }, 'updates[0].inc'],
    ['bad status', { type: 'gossip', updates: [{ status: 'zombie', id: 'a', inc: 1 }] }, 'updates[0].status'],
    ['empty id', { type: 'gossip', updates: [{ status: 'alive', id: '', inc: 1 }] }, 'updates[0].id'],
    ['extra field', { type: 'gossip', updates: [], evil: 1 }, 'evil'],
    ['too many updates', { type: 'gossip', updates: Array.from({ length: 65 }, () => ({ status: 'alive', id: 'a', inc: 1 })) }, 'updates'],
    ['not an object', [1, 2], '']
  ])('refuses %s, naming the path', (_name, value, path) => {
    try {
      validateMembershipMessage(value)
      expect.unreachable()
    } catch (err) {
      expect((err as Error).name).toBe('ProtocolValidationError')
      expect((err as { path: string }).path).toBe(path)
    }
  })

  it('refuses invalid UTF-8, invalid JSON and a non-sync message over its bound', () => {
    expect(() => decodeMembershipMessage(new Uint8Array([0xff, 0xfe]))).toThrow(expect.objectContaining({ name: 'ProtocolValidationError' }))
    expect(() => decodeMembershipMessage(new TextEncoder().encode('{"type":'))).toThrow(expect.objectContaining({ name: 'ProtocolValidationError' }))
    const big: MembershipMessage = { type: 'gossip', updates: Array.from({ length: 60 }, (_, i) => ({ status: 'alive', id: `m${i}`, inc: 1, addrs: ['x'.repeat(250)] })) }
    expect(encodeMembershipMessage(big).byteLength).toBeGreaterThan(MAX_MEMBERSHIP_MESSAGE_BYTES)
    expect(() => decodeMembershipMessage(encodeMembershipMessage(big))).toThrow(expect.objectContaining({ name: 'MessageTooLargeError' }))
  })

  it('never throws anything but its typed errors on random bytes', () => {
    fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
      try { decodeMembershipMessage(bytes) } catch (err) { expect(['ProtocolValidationError', 'MessageTooLargeError']).toContain((err as Error).name) }
    }), { numRuns: 500 })
  })
})
