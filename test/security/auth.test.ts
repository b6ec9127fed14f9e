import { describe, expect, it } from 'vitest'
import {
  AuthError, ReplayCache, bodyDigest, canonicalJson, generateOperatorKey, inheritedAttr, proveSubtree, signRequest, verifyRequest,
  verifySubtreeRequest
} from '../../protocol/auth/index.ts'
import type { Action, RequestEnvelope, Role, TrustEntry, TrustLookup } from '../../protocol/auth/index.ts'

const NOW = 1_790_000_000_000

function trustOf (entries: TrustEntry[]): TrustLookup {
  const m = new Map(entries.map(e => [e.key, e]))
  return { lookup: k => m.get(k) }
}

function setup (role: Role = 'admin', pools = ['*']) {
  const op = generateOperatorKey()
  const trust = trustOf([{ key: op.publicText, role, pools }])
  return { op, trust, replay: new ReplayCache() }
}

function reasonOf (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(AuthError)
    expect((err as AuthError).name).toBe('AuthError')
    return (err as AuthError).reason
  }
  throw new Error('expected an AuthError')
}

const pool = {
  sfClass: 'org.smartfrog.sfcore.compound.CompoundImpl',
  computer1: { sfProcessHost: 'machine9.cern.ch', domain1: { sfClass: 'ch.cern.openlab.smartdomains.XenDomainImpl', memory: 512, kernel: '/boot/vmlinuz' } },
  computer2: { sfProcessHost: 'machine10.cern.ch', lvm: { baseImage: '/data/xen/a.img', tags: [1, 'x', { deep: true }] } }
}

describe('canonical JSON', () => {
  it('sorts keys at every depth and writes no whitespace, whatever the insertion order', () => {
    expect(canonicalJson({ b: 1, a: { d: [1, { z: 0, y: null }], c: 'x' } })).toBe('{"a":{"c":"x","d":[1,{"y":null,"z":0}]},"b":1}')
    expect(canonicalJson({ a: 1, b: 2 })).toBe(canonicalJson({ b: 2, a: 1 }))
    expect(canonicalJson(-0)).toBe('0')
  })

  it('refuses what JSON cannot carry instead of dropping it', () => {
    expect(() => canonicalJson({ a: undefined })).toThrow(/a: undefined/)
    expect(() => canonicalJson({ a: NaN })).toThrow(/finite/)
    expect(() => canonicalJson(new Date())).toThrow(/plain objects/)
    let deep: unknown = 1
    for (let i = 0; i < 200; i++) deep = [deep]
    expect(() => canonicalJson(deep)).toThrow(/deeper/)
  })
})

describe('signRequest / verifyRequest', () => {
  it('accepts a request signed by a trusted admin and says who asked', () => {
    const { op, trust, replay } = setup()
    const env = signRequest(op.privateKey, 'deploy', 'web', { config: pool }, { time: NOW })
    expect(env).toMatchObject({ v: 1, operator: op.publicText, action: 'deploy', pool: 'web', time: NOW })
    expect(env.id).toMatch(/^[0-9a-f]{32}$/)
    const ok = verifyRequest(env, { config: pool }, trust, replay, NOW + 1000)
    expect(ok).toEqual({ operator: op.publicText, role: 'admin', action: 'deploy', pool: 'web', id: env.id, time: NOW })
  })

  it('verifies across a JSON round trip with keys in another order (another process)', () => {
    const { op, trust, replay } = setup()
    const env = signRequest(op.privateKey, 'set', 'web', { path: 'computer1:domain1', attr: 'memory', value: 1024 }, { time: NOW })
    const wire = JSON.parse(JSON.stringify({ env, body: { value: 1024, attr: 'memory', path: 'computer1:domain1' } }))
    expect(verifyRequest(wire.env, wire.body, trust, replay, NOW).action).toBe('set')
  })

  it('refuses an unsigned request and a malformed envelope', () => {
    const { trust, replay } = setup()
    expect(reasonOf(() => verifyRequest(undefined, {}, trust, replay, NOW))).toBe('unsigned')
    expect(reasonOf(() => verifyRequest({ v: 1 }, {}, trust, replay, NOW))).toBe('malformed')
    expect(reasonOf(() => verifyRequest('x', {}, trust, replay, NOW))).toBe('malformed')
  })

  it('refuses a key that is not in the trust store', () => {
    const { trust, replay } = setup()
    const stranger = generateOperatorKey()
    const env = signRequest(stranger.privateKey, 'terminate', 'web', {}, { time: NOW })
    expect(reasonOf(() => verifyRequest(env, {}, trust, replay, NOW))).toBe('unknown-key')
  })

  it('refuses a trusted key named on an envelope signed by another key', () => {
    const { op, trust, replay } = setup()
    const mallory = generateOperatorKey()
    const env = signRequest(mallory.privateKey, 'terminate', 'web', {}, { time: NOW })
    expect(reasonOf(() => verifyRequest({ ...env, operator: op.publicText }, {}, trust, replay, NOW))).toBe('bad-signature')
  })

  it('refuses any altered signed field: action, pool, time, id', () => {
    const { op, trust } = setup()
    const env = signRequest(op.privateKey, 'status', 'web', {}, { time: NOW })
    const altered: Array<Partial<RequestEnvelope>> = [{ action: 'terminate' }, { pool: 'other' }, { time: NOW + 1 }, { id: 'f'.repeat(32) }]
    for (const change of altered) {
      expect(reasonOf(() => verifyRequest({ ...env, ...change }, {}, trust, new ReplayCache(), NOW))).toBe('bad-signature')
    }
  })

  it('refuses a body that is not the one signed', () => {
    const { op, trust, replay } = setup()
    const env = signRequest(op.privateKey, 'deploy', 'web', { config: pool }, { time: NOW })
    const changed = structuredClone(pool)
    changed.computer1.domain1.memory = 65536
    expect(reasonOf(() => verifyRequest(env, { config: changed }, trust, replay, NOW))).toBe('body-mismatch')
    expect(replay.size).toBe(0)
  })

  it('refuses a viewer asking to terminate, and lets it read', () => {
    const { op, trust, replay } = setup('viewer')
    const env = signRequest(op.privateKey, 'terminate', 'web', {}, { time: NOW })
    expect(reasonOf(() => verifyRequest(env, {}, trust, replay, NOW))).toBe('role-not-allowed')
    expect(verifyRequest(signRequest(op.privateKey, 'status', 'web', {}, { time: NOW }), {}, trust, replay, NOW).role).toBe('viewer')
  })

  it('limits an operator to its pool globs and to its actions', () => {
    const { op, trust } = setup('operator', ['web-*', 'test'])
    const ok = (action: Action, p?: string) => verifyRequest(signRequest(op.privateKey, action, p, {}, { time: NOW }), {}, trust, new ReplayCache(), NOW)
    expect(ok('deploy', 'web-1').role).toBe('operator')
    expect(ok('set', 'test').role).toBe('operator')
    expect(reasonOf(() => ok('deploy', 'db-1'))).toBe('pool-not-allowed')
    expect(reasonOf(() => ok('deploy', 'testing'))).toBe('pool-not-allowed')
    expect(reasonOf(() => ok('forget'))).toBe('role-not-allowed')
    expect(reasonOf(() => ok('trust-add'))).toBe('role-not-allowed')
    expect(reasonOf(() => ok('deploy'))).toBe('malformed')
  })

  it('refuses a replayed id, and accepts the same body under a new id', () => {
    const { op, trust, replay } = setup()
    const env = signRequest(op.privateKey, 'terminate', 'web', { type: 'normal' }, { time: NOW })
    verifyRequest(env, { type: 'normal' }, trust, replay, NOW)
    expect(reasonOf(() => verifyRequest(env, { type: 'normal' }, trust, replay, NOW + 10))).toBe('replayed')
    const again = signRequest(op.privateKey, 'terminate', 'web', { type: 'normal' }, { time: NOW })
    expect(verifyRequest(again, { type: 'normal' }, trust, replay, NOW + 10).id).toBe(again.id)
  })

  it('refuses a time outside the window both ways (default ±5 min), accepts at the edge', () => {
    const { op, trust } = setup()
    const at = (t: number) => signRequest(op.privateKey, 'deploy', 'web', {}, { time: t })
    expect(reasonOf(() => verifyRequest(at(NOW - 300_001), {}, trust, new ReplayCache(), NOW))).toBe('time-window')
    expect(reasonOf(() => verifyRequest(at(NOW + 300_001), {}, trust, new ReplayCache(), NOW))).toBe('time-window')
    expect(verifyRequest(at(NOW - 300_000), {}, trust, new ReplayCache(), NOW).time).toBe(NOW - 300_000)
    expect(reasonOf(() => verifyRequest(at(NOW - 2000), {}, trust, new ReplayCache(), NOW, { windowMs: 1000 }))).toBe('time-window')
  })

  it('refuses a request whose action or pool is not the one this peer is about to execute', () => {
    const { op, trust } = setup()
    const env = signRequest(op.privateKey, 'status', 'web', {}, { time: NOW })
    expect(reasonOf(() => verifyRequest(env, {}, trust, new ReplayCache(), NOW, { expect: { action: 'terminate' } }))).toBe('action-mismatch')
    expect(reasonOf(() => verifyRequest(env, {}, trust, new ReplayCache(), NOW, { expect: { pool: 'db' } }))).toBe('action-mismatch')
  })

  it('does not burn an id on a forged request (replay cache written last)', () => {
    const { op, trust, replay } = setup()
    const env = signRequest(op.privateKey, 'deploy', 'web', {}, { time: NOW })
    const forged = { ...env, sig: signRequest(generateOperatorKey().privateKey, 'deploy', 'web', {}, { time: NOW }).sig }
    expect(reasonOf(() => verifyRequest(forged, {}, trust, replay, NOW))).toBe('bad-signature')
    expect(verifyRequest(env, {}, trust, replay, NOW).id).toBe(env.id)
  })
})

describe('forwarded subtrees', () => {
  it('an owner accepts its subtree of the signed pool, checked against the original operator', () => {
    const { op, trust } = setup()
    const body = { config: pool }
    const env = signRequest(op.privateKey, 'deploy', 'web', body, { time: NOW })
    const { subtree, proof } = proveSubtree(body, ['config', 'computer2'])
    const wire = JSON.parse(JSON.stringify({ env, subtree, proof }))
    const ok = verifySubtreeRequest(wire.env, wire.subtree, wire.proof, trust, new ReplayCache(), NOW)
    expect(ok.operator).toBe(op.publicText)
    expect(subtree).toEqual(pool.computer2)
  })

  it('refuses a subtree the forwarding peer altered, or one grafted from elsewhere', () => {
    const { op, trust } = setup()
    const body = { config: pool }
    const env = signRequest(op.privateKey, 'deploy', 'web', body, { time: NOW })
    const { subtree, proof } = proveSubtree(body, ['config', 'computer2'])
    const evil = structuredClone(subtree) as typeof pool.computer2
    evil.lvm.baseImage = '/etc/shadow'
    expect(reasonOf(() => verifySubtreeRequest(env, evil, proof, trust, new ReplayCache(), NOW))).toBe('body-mismatch')
    // computer1's subtree presented as computer2
    expect(reasonOf(() => verifySubtreeRequest(env, pool.computer1, proof, trust, new ReplayCache(), NOW))).toBe('body-mismatch')
    // an ancestor skeleton altered (a root attribute changed)
    const sk = structuredClone(proof)
    sk.skeletons[1].sfClass = 'evil'
    expect(reasonOf(() => verifySubtreeRequest(env, subtree, sk, trust, new ReplayCache(), NOW))).toBe('body-mismatch')
    // a fake digest marker smuggled into a skeleton
    const fake = structuredClone(proof)
    fake.skeletons[1].extra = { $digest: 'x' }
    expect(reasonOf(() => verifySubtreeRequest(env, subtree, fake, trust, new ReplayCache(), NOW))).toBe('body-mismatch')
    expect(reasonOf(() => verifySubtreeRequest(env, subtree, { path: 'config', skeletons: [] }, trust, new ReplayCache(), NOW))).toBe('body-mismatch')
  })

  it('a peer owning two subtrees (or entry and owner at once) accepts each once, and a replay of either is refused', () => {
    const { op, trust, replay } = setup()
    const body = { config: pool }
    const env = signRequest(op.privateKey, 'deploy', 'web', body, { time: NOW })
    verifyRequest(env, body, trust, replay, NOW)
    for (const c of ['computer1', 'computer2']) {
      const { subtree, proof } = proveSubtree(body, ['config', c])
      verifySubtreeRequest(env, subtree, proof, trust, replay, NOW)
      expect(reasonOf(() => verifySubtreeRequest(env, subtree, proof, trust, replay, NOW + 5))).toBe('replayed')
    }
  })

  it('tells an owner which host a subtree is for, from the subtree or its signed ancestors', () => {
    const body = { config: pool }
    const deep = proveSubtree(body, ['config', 'computer1', 'domain1'])
    expect(inheritedAttr(deep.subtree, deep.proof, 'sfProcessHost')).toBe('machine9.cern.ch')
    const own = proveSubtree(body, ['config', 'computer2'])
    expect(inheritedAttr(own.subtree, own.proof, 'sfProcessHost')).toBe('machine10.cern.ch')
    expect(inheritedAttr(own.subtree, own.proof, 'nothing')).toBeUndefined()
  })

  it('the Merkle digest of a whole body equals the root recomputed from any subtree proof', () => {
    const body = { config: pool }
    const { subtree, proof } = proveSubtree(body, ['config', 'computer1', 'domain1'])
    expect(proof.skeletons).toHaveLength(3)
    expect(bodyDigest(body)).toMatch(/^[0-9a-f]{64}$/)
    const { op, trust } = setup()
    const env = signRequest(op.privateKey, 'deploy', 'web', body, { time: NOW })
    expect(verifySubtreeRequest(env, subtree, proof, trust, new ReplayCache(), NOW).pool).toBe('web')
  })
})

describe('ReplayCache', () => {
  it('forgets ids once their window has passed, keeping memory bounded by time', () => {
    const c = new ReplayCache()
    for (let i = 0; i < 1000; i++) expect(c.admit(`id${i}`, i, i + 100, i)).toBe('fresh')
    expect(c.size).toBeLessThanOrEqual(102)
    expect(c.has('id999')).toBe(true)
    expect(c.has('id0')).toBe(false)
  })

  it('refuses new ids rather than forgetting live ones when full', () => {
    const c = new ReplayCache({ maxEntries: 3 })
    for (const id of ['a', 'b', 'c']) expect(c.admit(id, 0, 1000, 0)).toBe('fresh')
    expect(c.admit('d', 0, 1000, 10)).toBe('full')
    expect(c.admit('a', 0, 1000, 10)).toBe('replayed')
    expect(c.admit('d', 0, 3000, 1001)).toBe('fresh')
  })

  it('refuses requests signed before notBefore (a restarted peer cannot know whether they ran)', () => {
    const c = new ReplayCache({ notBefore: 5000 })
    expect(c.admit('a', 4999, 9999, 5000)).toBe('replayed')
    expect(c.admit('b', 5000, 9999, 5000)).toBe('fresh')
  })
})

describe('signature spelling', () => {
  it('accepts only the canonical base64url spelling of a signature (its 4 spare bits must be zero)', () => {
    const { op, trust } = setup()
    const env = signRequest(op.privateKey, 'deploy', 'web', {}, { time: NOW })
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const last = alphabet.indexOf(env.sig.at(-1)!)
    const twin = env.sig.slice(0, -1) + alphabet[last ^ 1]
    expect(Buffer.from(twin, 'base64url').equals(Buffer.from(env.sig, 'base64url'))).toBe(true)
    expect(reasonOf(() => verifyRequest({ ...env, sig: twin }, {}, trust, new ReplayCache(), NOW))).toBe('bad-signature')
  })
})
