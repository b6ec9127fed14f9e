import { describe, expect, it } from 'vitest'
import { AuthError, ReplayCache, generateOperatorKey, proveSubtree, verifySubtreeRequest } from '../../protocol/auth/index.ts'
import type { TrustLookup } from '../../protocol/auth/index.ts'
import { apiRequestBody, signApiRequest, verifyApiRequest } from '../../node/security/request-auth.ts'
import { parseEnvelope } from '../../protocol/auth/envelope.ts'

const NOW = 1_790_000_000_000
const op = generateOperatorKey()
const viewer = generateOperatorKey()
const trust: TrustLookup = {
  lookup: k => k === op.publicText ? { key: k, role: 'operator', pools: ['web*'] } : k === viewer.publicText ? { key: k, role: 'viewer', pools: ['*'] } : undefined
}
const config = { computer1: { sfProcessHost: 'machine9.cern.ch', vm: { memory: 512 } }, computer2: { sfProcessHost: 'machine10.cern.ch' } }

function reason (fn: () => unknown): string {
  try { fn() } catch (err) { expect(err).toBeInstanceOf(AuthError); return (err as AuthError).reason }
  throw new Error('accepted')
}

describe('control-API request signing', () => {
  it('a signed deploy survives the wire and verifies; the envelope passes the strict shape check', () => {
    const req = signApiRequest(op.privateKey, { id: 7, op: 'deploy', pool: 'web1', config, wait: true }, { time: NOW })
    const wire = JSON.parse(JSON.stringify(req))
    expect(parseEnvelope(wire.auth).action).toBe('deploy')
    expect(verifyApiRequest(wire, trust, new ReplayCache(), NOW)).toMatchObject({ operator: op.publicText, action: 'deploy', pool: 'web1' })
    expect(apiRequestBody(wire)).toEqual({ op: 'deploy', pool: 'web1', config, wait: true })
  })

  it('refuses an unsigned change, a pool swapped after signing, and a viewer\'s terminate', () => {
    expect(reason(() => verifyApiRequest({ id: 1, op: 'terminate', pool: 'web1', type: 'normal' }, trust, new ReplayCache(), NOW, { allowUnsignedReads: true }))).toBe('unsigned')
    const req = signApiRequest(op.privateKey, { id: 1, op: 'terminate', pool: 'web1', type: 'normal' }, { time: NOW })
    expect(reason(() => verifyApiRequest({ ...req, pool: 'web2' }, trust, new ReplayCache(), NOW))).toBe('action-mismatch')
    expect(reason(() => verifyApiRequest({ ...req, op: 'set' }, trust, new ReplayCache(), NOW))).toBe('action-mismatch')
    expect(reason(() => verifyApiRequest({ ...req, type: 'abnormal' }, trust, new ReplayCache(), NOW))).toBe('body-mismatch')
    const v = signApiRequest(viewer.privateKey, { id: 2, op: 'terminate', pool: 'web1', type: 'normal' }, { time: NOW })
    expect(reason(() => verifyApiRequest(v, trust, new ReplayCache(), NOW))).toBe('role-not-allowed')
  })

  it('lets unsigned reads through only when asked to, and verifies signed reads', () => {
    expect(verifyApiRequest({ id: 3, op: 'status' }, trust, new ReplayCache(), NOW, { allowUnsignedReads: true })).toBeUndefined()
    expect(reason(() => verifyApiRequest({ id: 3, op: 'status' }, trust, new ReplayCache(), NOW))).toBe('unsigned')
    const s = signApiRequest(viewer.privateKey, { id: 3, op: 'status', pool: 'x' }, { time: NOW })
    expect(verifyApiRequest(s, trust, new ReplayCache(), NOW)?.role).toBe('viewer')
  })

  it('an owner peer verifies its subtree of a signed deploy from path ["config", host subtree]', () => {
    const req = signApiRequest(op.privateKey, { id: 9, op: 'deploy', pool: 'web1', config, wait: false }, { time: NOW })
    const { subtree, proof } = proveSubtree(apiRequestBody(req), ['config', 'computer2'])
    expect(verifySubtreeRequest(req.auth, subtree, proof, trust, new ReplayCache(), NOW, { expect: { action: 'deploy', pool: 'web1' } }).pool).toBe('web1')
  })
})
