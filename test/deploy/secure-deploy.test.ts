import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { DeployFailedError, TerminateRefusedError } from '../../node/deploy/errors.ts'
import type { PeerFailure } from '../../node/deploy/errors.ts'
import { proveParts } from '../../node/deploy/auth.ts'
import { splitPool } from '../../node/deploy/split.ts'
import { parseAllowPaths } from '../../node/security/paths.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'
import { computer, distVirtualPool, pool } from './fixtures.ts'
import { SecureCluster } from './secure-cluster.ts'

const ENTRY = 'entry.cern.ch'
const M9 = 'machine9.cern.ch'
const M10 = 'machine10.cern.ch'
const HOSTS = [ENTRY, M9, M10]

function failuresOf (r: { ok: boolean, error?: unknown }): PeerFailure[] {
  if (r.ok || !(r.error instanceof DeployFailedError)) throw new Error(`expected a DeployFailedError, got ${String((r as { error?: unknown }).error)}`)
  return r.error.failures
}

/** Two computers on two hosts plus a console on the entry peer. */
function twoHosts (): SfJsonObject {
  return pool({ a: computer(M9, [{ name: 'd1', ip: '10.0.0.1' }]), b: computer(M10, [{ name: 'd2', ip: '10.0.0.2' }]) })
}

describe('signed deploys: every owner checks the original operator signature', () => {
  it('a signed distVirtualPool deploys, each owner verifying its own parts against the operator key', async () => {
    const c = new SecureCluster(HOSTS)
    const key = c.operator('operator', ['dist*'])
    const config = distVirtualPool()
    const res = await c.settle(c.get(ENTRY).peer.deploy('dist', config, { auth: c.sign(key, 'dist', config) }))
    expect(res.components.every(x => x.state === 'running')).toBe(true)
    for (const host of HOSTS) {
      const verified = c.get(host).logs.filter(l => l.startsWith('prepare: operator verified'))
      expect(verified, host).toHaveLength(1)
    }
    // Each owner admitted its part under the request's id, scoped by the part's path.
    expect(c.get(M9).replay.size).toBe(1)
    await c.settle(c.get(M10).peer.terminate('dist', 'normal', undefined, { auth: c.signed(key, { op: 'terminate', pool: 'dist', type: 'normal' }) }))
    expect(c.leftovers().components).toBe(0)
  })

  const refusedCases: Array<[string, (c: SecureCluster, config: SfJsonObject) => object | undefined, RegExp]> = [
    ['unsigned', () => undefined, /AuthError: unsigned/],
    ['signed by an unknown key', (c, config) => ({ auth: c.sign(c.operator('admin', ['*'], false), 'p', config) }), /AuthError: unknown-key/],
    ['signed by a viewer', (c, config) => ({ auth: c.sign(c.operator('viewer'), 'p', config) }), /AuthError: role-not-allowed: a viewer may not deploy/],
    ['signed by an operator outside its pools', (c, config) => ({ auth: c.sign(c.operator('operator', ['web-*']), 'p', config) }), /AuthError: pool-not-allowed/],
    ['signed too long ago', (c, config) => ({ auth: c.sign(c.operator(), 'p', config, { time: c.now() - 6 * 60_000 }) }), /AuthError: time-window/],
    ['signed for another pool', (c, config) => ({ auth: c.sign(c.operator(), 'other', config) }), /AuthError: action-mismatch/]
  ]
  for (const [what, auth, reason] of refusedCases) {
    it(`a deploy ${what} is refused by every owner, nothing reserved or started anywhere`, async () => {
      const c = new SecureCluster(HOSTS)
      const config = twoHosts()
      const r = await c.outcome(c.get(ENTRY).peer.deploy('p', config, auth(c, config) as { auth?: never }))
      const failures = failuresOf(r)
      expect(failures.map(f => f.host).sort()).toEqual([ENTRY, M10, M9].sort())
      for (const f of failures) expect(f.reason).toMatch(reason)
      await c.settle(c.clock.sleep(60_000))
      expect(c.leftovers()).toEqual({ components: 0, reservations: 0, starts: 0 })
      expect(c.reserves()).toBe(0)
    })
  }

  it('a replayed request is refused: the same signed deploy, sent again after a terminate, deploys nothing', async () => {
    const c = new SecureCluster(HOSTS)
    const key = c.operator()
    const config = twoHosts()
    const auth = c.sign(key, 'p', config)
    await c.settle(c.get(ENTRY).peer.deploy('p', config, { auth }))
    await c.settle(c.get(ENTRY).peer.terminate('p', 'normal', undefined, { auth: c.signed(key, { op: 'terminate', pool: 'p', type: 'normal' }) }))
    const before = { starts: c.leftovers().starts, reserves: c.reserves() }
    const r = await c.outcome(c.get(M9).peer.deploy('p', config, { auth }))
    for (const f of failuresOf(r)) expect(f.reason).toMatch(/AuthError: replayed/)
    expect(c.leftovers()).toEqual({ components: 0, reservations: 0, starts: before.starts })
    expect(c.reserves()).toBe(before.reserves)
  })

  it('a forwarding peer that alters the pool after signing is refused (body-mismatch)', async () => {
    const c = new SecureCluster(HOSTS)
    const config = twoHosts()
    const auth = c.sign(c.operator(), 'p', config)
    const altered = structuredClone(config)
    ;((altered.b as SfJsonObject).d2 as SfJsonObject).memory = 8192
    const r = await c.outcome(c.get(ENTRY).peer.deploy('p', altered, { auth }))
    const failures = failuresOf(r)
    // Only the owner of the altered part can tell; that is enough: the deploy aborts everywhere.
    expect(failures).toEqual([expect.objectContaining({ host: M10, reason: expect.stringMatching(/AuthError: body-mismatch/) })])
    await c.settle(c.clock.sleep(60_000))
    expect(c.leftovers()).toMatchObject({ components: 0, reservations: 0 })
  })

  it('a placement chosen by the entry peer (sfProcessHost the operator left out) verifies; moving a signed one does not', async () => {
    const c = new SecureCluster(HOSTS)
    const key = c.operator()
    // The operator leaves `b` unplaced (a scheduler's job); the entry peer writes b.sfProcessHost before splitting.
    const signed = pool({ a: computer(M9, [{ name: 'd1', ip: '10.0.0.1' }]), b: { ...computer(M10, [{ name: 'd2', ip: '10.0.0.2' }]), sfProcessHost: undefined as never } })
    delete (signed.b as SfJsonObject).sfProcessHost
    const placed = structuredClone(signed)
    ;(placed.b as SfJsonObject).sfProcessHost = M10
    const res = await c.settle(c.get(ENTRY).peer.deploy('p', placed, { auth: c.sign(key, 'p', signed) }))
    expect(res.components.find(x => x.path === 'b:d2')?.host).toBe(M10)

    await c.settle(c.get(ENTRY).peer.terminate('p', 'normal', undefined, { auth: c.signed(key, { op: 'terminate', pool: 'p', type: 'normal' }) }))
    const moved = structuredClone(twoHosts())
    ;(moved.a as SfJsonObject).sfProcessHost = M10
    const r = await c.outcome(c.get(ENTRY).peer.deploy('q', moved, { auth: c.sign(key, 'q', twoHosts()) }))
    expect(failuresOf(r).map(f => f.reason).join('\n')).toMatch(/AuthError: body-mismatch/)
  })
})

describe('a prepare sent directly to an owner, bypassing the entry peer', () => {
  async function attempt (c: SecureCluster, req: Record<string, unknown>): Promise<{ type: string, ok?: boolean, reason?: string }> {
    // The attacker holds the pool key (a member): it speaks the deploy protocol to machine9 itself.
    const { transport } = c.net.attach('peer-attacker')
    return await c.settle(transport.request(c.get(M9).id, req as never, { timeoutMs: 5000 })) as never
  }

  function planFor (c: SecureCluster, config: SfJsonObject): ReturnType<typeof splitPool> {
    return splitPool(config, { pool: 'p', entryPeer: 'peer-attacker', entryHost: 'attacker', resolveHost: h => c.peers.find(p => p.host === h)?.id })
  }

  it('without a proof, with a forged one, with one borrowed from another part or another request: refused, nothing reserved', async () => {
    const c = new SecureCluster(HOSTS)
    const key = c.operator()
    const config = twoHosts()
    const plan = planFor(c, config)
    const mine = plan.parts.filter(p => p.peer === c.get(M9).id)
    const base = { type: 'prepare', pool: 'p', coordinator: 'peer-attacker', participants: ['peer-attacker', c.get(M9).id], leaseMs: 30_000 }

    const none = await attempt(c, { ...base, deployId: 'x1', parts: mine })
    expect(none).toMatchObject({ type: 'prepared', ok: false, reason: expect.stringMatching(/AuthError: unsigned/) })

    // A valid signature over one pool, and the owner's part of a different (hostile) pool.
    const hostile = structuredClone(config)
    ;((hostile.a as SfJsonObject).d1 as SfJsonObject).kernel = '/boot/evil'
    const hostileParts = planFor(c, hostile).parts.filter(p => p.peer === c.get(M9).id)
    const forged = proveParts('p', c.sign(key, 'p', config), hostileParts, new WeakMap())
    expect(await attempt(c, { ...base, deployId: 'x2', parts: hostileParts, auth: forged })).toMatchObject({ ok: false, reason: expect.stringMatching(/AuthError: body-mismatch/) })

    // A genuine proof, but for machine10's part, presented as machine9's.
    const auth = c.sign(key, 'p', config)
    const other = plan.parts.filter(p => p.peer === c.get(M10).id)
    const borrowed = proveParts('p', auth, other, new WeakMap())
    const relabelled = other.map(p => ({ ...p, peer: c.get(M9).id }))
    expect(await attempt(c, { ...base, deployId: 'x3', parts: relabelled, auth: borrowed })).toMatchObject({ ok: false, reason: expect.stringMatching(/AuthError: body-mismatch: pool p: part b is placed by the operator on "machine10.cern.ch", which is not this peer/) })
    // A signature made by nobody the owner trusts.
    const stranger = proveParts('p', c.sign(c.operator('admin', ['*'], false), 'p', config), mine, new WeakMap())
    expect(await attempt(c, { ...base, deployId: 'x4', parts: mine, auth: stranger })).toMatchObject({ ok: false, reason: expect.stringMatching(/AuthError: unknown-key/) })

    expect(c.get(M9).engine.actions).toEqual([])
    expect(c.leftovers()).toEqual({ components: 0, reservations: 0, starts: 0 })
  })

  it('a genuine prepare replayed to the owner after it ran is refused', async () => {
    const c = new SecureCluster(HOSTS)
    const config = twoHosts()
    const key = c.operator()
    const auth = c.sign(key, 'p', config)
    let captured: Record<string, unknown> | undefined
    c.net.beforeDeliver = (_from, to, req) => { if (to === c.get(M9).id && req.type === 'prepare') captured = structuredClone(req) as never }
    await c.settle(c.get(ENTRY).peer.deploy('p', config, { auth }))
    await c.settle(c.get(ENTRY).peer.terminate('p', 'normal', undefined, { auth: c.signed(key, { op: 'terminate', pool: 'p', type: 'normal' }) }))
    c.net.beforeDeliver = undefined
    expect(captured).toBeDefined()
    const before = c.get(M9).engine.actions.length
    const r = await attempt(c, { ...captured, deployId: 'replay-1' })
    expect(r).toMatchObject({ ok: false, reason: expect.stringMatching(/AuthError: replayed/) })
    expect(c.get(M9).engine.actions.length).toBe(before)
  })
})

describe('terminate and set forwarded across peers', () => {
  const running = (c: SecureCluster, host: string): number => c.get(host).engine.live('p').length

  it('a signed terminate ends every part; unsigned or a viewer\'s, sent through a peer, ends none of the other peers\' parts', async () => {
    const c = new SecureCluster(HOSTS)
    const key = c.operator()
    const config = twoHosts()
    await c.settle(c.get(ENTRY).peer.deploy('p', config, { auth: c.sign(key, 'p', config) }))
    const before = [running(c, ENTRY), running(c, M9), running(c, M10)]
    expect(before.every(n => n > 0)).toBe(true)

    // Through machine10 (a compromised or careless entry): its own part is its own; the others refuse.
    // The refusing owners are named, and the pool stays `terminating` (its parts still run), not `terminated`.
    const r1 = await c.settle(c.get(M10).peer.terminate('p')).catch((e: unknown) => e)
    expect(r1).toBeInstanceOf(TerminateRefusedError)
    expect((r1 as TerminateRefusedError).refusals.map(x => x.peer).sort()).toEqual([ENTRY, M9].sort())
    expect((r1 as Error).message).toMatch(/unsigned/)
    expect(c.get(M10).peer.registry.get('p')?.state).toBe('terminating')
    expect([running(c, ENTRY), running(c, M9)]).toEqual([before[0], before[1]])
    expect([...c.get(M9).engine.actions, ...c.get(ENTRY).engine.actions].filter(a => a.startsWith('stop'))).toEqual([])
    const viewer = c.operator('viewer')
    await expect(c.settle(c.get(M9).peer.terminate('p', 'normal', undefined, { auth: c.signed(viewer, { op: 'terminate', pool: 'p', type: 'normal' }) })))
      .rejects.toThrow(TerminateRefusedError)
    expect(running(c, ENTRY)).toBe(before[0])

    // Terminating again with the operator's signature finishes the job.
    await c.settle(c.get(ENTRY).peer.terminate('p', 'normal', undefined, { auth: c.signed(key, { op: 'terminate', pool: 'p', type: 'normal' }) }))
    expect(c.get(ENTRY).peer.registry.get('p')?.state).toBe('terminated')
    expect(c.leftovers().components).toBe(0)
  })

  it('a captured terminate replayed against the pool deployed again under the same name is refused', async () => {
    const c = new SecureCluster(HOSTS)
    const key = c.operator()
    const config = twoHosts()
    await c.settle(c.get(ENTRY).peer.deploy('p', config, { auth: c.sign(key, 'p', config) }))
    const terminate = c.signed(key, { op: 'terminate', pool: 'p', type: 'normal' })
    await c.settle(c.get(ENTRY).peer.terminate('p', 'normal', undefined, { auth: terminate }))
    await c.settle(c.clock.sleep(1000))
    await c.settle(c.get(ENTRY).peer.deploy('p', config, { auth: c.sign(key, 'p', config) }))
    const live = c.leftovers().components
    const stops = (): number => c.peers.flatMap(p => p.engine.actions).filter(a => a.startsWith('stop')).length
    const stopped = stops()
    const r = await c.settle(c.get(M9).peer.terminate('p', 'normal', undefined, { auth: terminate })).catch((e: unknown) => e)
    // Every owner refuses, the replaying entry peer included: the terminate was signed before this deploy.
    expect((r as TerminateRefusedError).refusals.map(x => x.peer).sort()).toEqual([...HOSTS].sort())
    expect(c.leftovers().components).toBe(live)
    expect(stops()).toBe(stopped)
  })

  it('set: signed runs once on the owner; unsigned, altered or replayed is refused', async () => {
    const c = new SecureCluster(HOSTS)
    const key = c.operator()
    const config = twoHosts()
    await c.settle(c.get(ENTRY).peer.deploy('p', config, { auth: c.sign(key, 'p', config) }))
    const set = c.signed(key, { op: 'set', pool: 'p', path: 'b:d2', attr: 'memory', value: 1024 })
    await c.settle(c.get(ENTRY).peer.set('p', 'b:d2', 'memory', 1024, { auth: set }))
    expect(c.get(M10).engine.actions).toContain('set p:b:d2 memory')
    const n = c.get(M10).engine.actions.length
    await expect(c.settle(c.get(ENTRY).peer.set('p', 'b:d2', 'memory', 1024))).rejects.toThrow(/AuthError: unsigned/)
    await expect(c.settle(c.get(ENTRY).peer.set('p', 'b:d2', 'memory', 4096, { auth: set }))).rejects.toThrow(/AuthError: body-mismatch/)
    await expect(c.settle(c.get(ENTRY).peer.set('p', 'b:d2', 'memory', 1024, { auth: set }))).rejects.toThrow(/AuthError: replayed/)
    expect(c.get(M10).engine.actions.length).toBe(n)
  })

  it('an abort or a termination record from a peer that has no say is refused', async () => {
    const c = new SecureCluster(HOSTS)
    const config = twoHosts()
    const res = await c.settle(c.get(ENTRY).peer.deploy('p', config, { auth: c.sign(c.operator(), 'p', config) }))
    const { transport } = c.net.attach('peer-attacker')
    await expect(c.settle(transport.request(c.get(M9).id, { type: 'abort', deployId: res.deployId, pool: 'p', reason: 'x' }, { timeoutMs: 5000 }))).rejects.toThrow(/role-not-allowed/)
    await expect(c.settle(transport.request(c.get(ENTRY).id, { type: 'termination', pool: 'p', path: 'a', record: { type: 'abnormal', reason: 'x', path: 'a' } }, { timeoutMs: 5000 }))).rejects.toThrow(/role-not-allowed/)
    await expect(c.settle(transport.request(c.get(M9).id, { type: 'terminate-part', pool: 'p', path: 'a', kind: 'abnormal', reason: 'x', fromParent: true }, { timeoutMs: 5000 }))).rejects.toThrow(/AuthError: unsigned/)
    await c.settle(c.clock.sleep(60_000))
    expect([running(c, ENTRY), running(c, M9), running(c, M10)].every(x => x > 0)).toBe(true)
  })
})

describe('host policy at prepare', () => {
  const root = mkdtempSync(join(tmpdir(), 'sdpeer-policy-'))
  const images = join(root, 'images')
  const saved = join(root, 'saved')
  mkdirSync(images); mkdirSync(saved)
  writeFileSync(join(images, 'base.img'), 'x')
  symlinkSync('/etc', join(images, 'etc-link'))
  const allowed = parseAllowPaths([`ro:${images}`, saved])
  afterAll(() => { rmSync(root, { recursive: true, force: true }) })

  const lvm = 'ch.cern.openlab.smartdomains.LVMStorageBackendImpl'
  const xen = 'ch.cern.openlab.smartdomains.XenDomainImpl'
  const hostile = (attrs: { disk?: SfJsonObject, dom?: SfJsonObject }): SfJsonObject => pool({
    a: computer(M9, [{ name: 'd1', ip: '10.0.0.1' }]),
    b: {
      sfClass: 'org.smartfrog.sfcore.compound.CompoundImpl',
      sfProcessHost: M10,
      disk: { sfClass: lvm, domainName: 'd2', baseImage: join(images, 'base.img'), ...attrs.disk },
      dom: { sfClass: xen, domainName: 'd2', ip: '10.0.0.2', memory: 512, vcpus: 1, ...attrs.dom }
    }
  })

  const cases: Array<[string, { disk?: SfJsonObject, dom?: SfJsonObject }, RegExp]> = [
    ['baseImage "/etc/shadow"', { disk: { baseImage: '/etc/shadow' } }, /b:disk baseImage "\/etc\/shadow" refused: outside the directories this host allows for reading/],
    ['saveImagePath "/etc"', { disk: { saveImagePath: '/etc' } }, /b:disk saveImagePath "\/etc" refused: outside the directories this host allows for writing/],
    ['kernel "../../x"', { dom: { kernel: '../../x' } }, /b:dom kernel "..\/..\/x" refused: must be an absolute path/],
    ['a kernel through a symlink leaving the allowed directory', { dom: { kernel: join(images, 'etc-link', 'passwd') } }, /b:dom kernel ".*etc-link\/passwd" refused: outside .* \(it resolves to \/etc\/passwd\)/],
    ['a saveImagePath in a read-only directory', { disk: { saveImagePath: images } }, /b:disk saveImagePath .* refused: outside the directories this host allows for writing/],
    ['a domain name with an option in it', { dom: { domainName: '-xd2' } }, /b:dom domainName "-xd2"/],
    ['an address that is not one', { dom: { ip: '10.0.0.300' } }, /b:dom ip "10\.0\.0\.300"/]
  ]
  for (const [what, attrs, message] of cases) {
    it(`${what} is refused at prepare with the attribute's path and value; nothing deployed anywhere`, async () => {
      const c = new SecureCluster(HOSTS, { allowed })
      const config = hostile(attrs)
      const r = await c.outcome(c.get(ENTRY).peer.deploy('p', config, { auth: c.sign(c.operator(), 'p', config) }))
      const failures = failuresOf(r)
      expect(failures).toEqual([expect.objectContaining({ host: M10, kind: 'refused', reason: expect.stringMatching(/^host policy refuses/) })])
      expect(failures[0].reason).toMatch(message)
      await c.settle(c.clock.sleep(60_000))
      expect(c.leftovers()).toEqual({ components: 0, reservations: 0, starts: 0 })
    })
  }

  it('paths inside the allowed directories deploy; a runtime set is held to the same rules on the owner', async () => {
    const c = new SecureCluster(HOSTS, { allowed })
    const key = c.operator()
    const config = hostile({ disk: { saveImagePath: join(saved, 'vm.img') }, dom: { kernel: join(images, 'vmlinuz') } })
    const res = await c.settle(c.get(ENTRY).peer.deploy('p', config, { auth: c.sign(key, 'p', config) }))
    expect(res.components.every(x => x.state === 'running')).toBe(true)
    const set = (attr: string, value: string): Promise<void> => c.settle(c.get(ENTRY).peer.set('p', 'b:disk', attr, value, { auth: c.signed(key, { op: 'set', pool: 'p', path: 'b:disk', attr, value }) }))
    await expect(set('saveImagePath', '/etc')).rejects.toThrow(/HostPolicyError: p: host policy refuses an attribute: b:disk saveImagePath "\/etc" refused: outside/)
    await expect(set('domainName', 'a,b')).rejects.toThrow(/HostPolicyError: .*b:disk domainName "a,b"/)
    expect(c.get(M10).engine.actions.filter(a => a.startsWith('set'))).toEqual([])
    await set('saveImagePath', join(saved, 'other.img'))
    expect(c.get(M10).engine.actions.filter(a => a.startsWith('set'))).toEqual(['set p:b:disk saveImagePath'])
  })
})
