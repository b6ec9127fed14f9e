import { describe, expect, it } from 'vitest'
import { ann, peer } from './announcements.ts'
import { Directory, signAnnouncement } from '../../node/mesh/directory.ts'
import { checkForget, ForgetRefusedError, planForget } from '../../node/mesh/forget.ts'
import type { ClaimantState } from '../../node/mesh/forget.ts'
import { createForgetAuthorizer } from '../../node/mesh/forget-auth.ts'
import { Tombstones } from '../../node/mesh/tombstones.ts'
import { decodeForgetRequest, decodeForgetResponse, encodeForgetRequest, encodeForgetResponse } from '../../protocol/forget.ts'
import type { ForgetBody } from '../../protocol/forget.ts'
import { ProtocolValidationError } from '../../protocol/errors.ts'
import { generateOperatorKey, ReplayCache, signRequest } from '../../protocol/auth/index.ts'
import type { Role } from '../../protocol/auth/index.ts'
import { ManualClock } from '../seams/manual-clock.ts'

const HOUR = 3_600_000

describe('forgetting a host announcement (directory tombstones)', () => {
  it('drops the claimant, resolves the name to the other, and refuses that epoch again whatever its seq', async () => {
    const clock = new ManualClock()
    const d = new Directory({ clock })
    const [old, fresh] = [await peer(), await peer()]
    await d.accept(await signAnnouncement(old.key, ann(old.id, { seq: 3 })))
    await d.accept(await signAnnouncement(fresh.key, ann(fresh.id, { epoch: 5000 })))
    expect(d.conflicts()).toEqual([{ hostName: 'machine9.cern.ch', peers: [old.id, fresh.id].sort() }])
    expect(d.resolveHost('machine9.cern.ch')).toBeUndefined()
    expect(d.claimants('Machine9.CERN.ch.')).toEqual([old.id, fresh.id].sort())

    expect(d.forget(old.id)).toEqual({ peerId: old.id, epoch: 1000, seq: 3, hostNames: ['machine9.cern.ch'], at: clock.now() })
    expect(d.forgottenClaimants('MACHINE9.cern.ch.')).toEqual([old.id])
    expect(d.conflicts()).toEqual([])
    expect(d.resolveHost('machine9.cern.ch')).toBe(fresh.id)
    expect(d.forget(old.id)).toBeUndefined() // nothing held any more
    // What directory sync would fetch from a peer that still holds it, older or newer within the epoch: refused.
    expect(d.isNewer(old.id, 1000, 3)).toBe(false)
    expect(d.isNewer(old.id, 1000, 9)).toBe(false)
    expect(await d.accept(await signAnnouncement(old.key, ann(old.id, { seq: 3 })))).toBe('forgotten')
    expect(await d.accept(await signAnnouncement(old.key, ann(old.id, { seq: 9 })))).toBe('forgotten')
    expect(await d.accept(await signAnnouncement(old.key, ann(old.id, { epoch: 999, seq: 50 })))).toBe('forgotten')
    expect(d.get(old.id)).toBeUndefined()
    expect(d.versions().map(v => v[0])).toEqual([fresh.id])

    // A real restart of that peer (a higher epoch) is heard again, and conflicts again while it claims the name.
    expect(d.isNewer(old.id, 1001, 1)).toBe(true)
    expect(await d.accept(await signAnnouncement(old.key, ann(old.id, { epoch: 1001, seq: 1 })))).toBe('accepted')
    expect(d.tombstones()).toEqual([])
    expect(d.conflicts()).toEqual([{ hostName: 'machine9.cern.ch', peers: [old.id, fresh.id].sort() }])
  })

  it('tombstones expire (24 h by default) and their table is bounded, oldest dropped first', async () => {
    const clock = new ManualClock()
    const d = new Directory({ clock })
    const p = await peer()
    await d.accept(await signAnnouncement(p.key, ann(p.id)))
    d.forget(p.id)
    await clock.advance(23 * HOUR)
    expect(await d.accept(await signAnnouncement(p.key, ann(p.id, { seq: 2 })))).toBe('forgotten')
    await clock.advance(2 * HOUR)
    expect(d.tombstones()).toEqual([])
    expect(await d.accept(await signAnnouncement(p.key, ann(p.id, { seq: 2 })))).toBe('accepted')

    const t = new Tombstones({ max: 3, ttlMs: 10 * HOUR })
    for (let i = 0; i < 5; i++) t.add({ peerId: `p${i}`, epoch: 10, seq: 1, hostNames: [], at: i })
    expect(t.size).toBe(3)
    expect(t.list(5).map(x => x.peerId)).toEqual(['p2', 'p3', 'p4'])
    expect(t.blocks('p0', 10, 5)).toBe(false)
    expect(t.blocks('p2', 10, 5)).toBe(true)
    expect(t.blocks('p2', 11, 5)).toBe(false)
    // Forgetting an older epoch again never lowers the bar; it refreshes the age.
    t.add({ peerId: 'p2', epoch: 3, seq: 1, hostNames: [], at: 6 })
    expect(t.blocks('p2', 10, 6)).toBe(true)
    expect(t.list(6).map(x => x.peerId)).toEqual(['p3', 'p4', 'p2'])
  })

  it('plans: dead and unknown claimants go, live ones stay unless named; the entry peer refuses what would do nothing', () => {
    const states: Record<string, ClaimantState> = { dead: 'dead', gone: 'unknown', live: 'alive', sus: 'suspect', me: 'self' }
    const stateOf = (p: string): ClaimantState => states[p] ?? 'unknown'
    const body = (peer?: string): ForgetBody => ({ op: 'forget', host: 'h.cern.ch', ...(peer !== undefined ? { peer } : {}) })
    expect(planForget(['dead', 'gone', 'live', 'me', 'sus'], stateOf, body())).toEqual({
      forget: ['dead', 'gone'],
      kept: [{ peerId: 'live', reason: 'alive' }, { peerId: 'me', reason: 'self' }, { peerId: 'sus', reason: 'suspect' }]
    })
    expect(planForget(['dead', 'live'], stateOf, body('live'))).toEqual({ forget: ['live'], kept: [{ peerId: 'dead', reason: 'not-named' }] })
    expect(planForget(['live', 'me'], stateOf, body('me')).forget).toEqual([])

    const refusal = (claimants: string[], b: ForgetBody): string | undefined => {
      try { checkForget(claimants, planForget(claimants, stateOf, b), b, 'me'); return undefined } catch (err) {
        expect(err).toBeInstanceOf(ForgetRefusedError)
        return (err as ForgetRefusedError).reason
      }
    }
    expect(refusal([], body())).toBe('no-claimant')
    expect(refusal(['live', 'me'], body())).toBe('live')
    expect(refusal(['live', 'me'], body('me'))).toBe('self')
    expect(refusal(['live', 'dead'], body('other'))).toBe('not-claimant')
    expect(refusal(['live', 'dead'], body())).toBeUndefined()
    expect(refusal(['live', 'me'], body('live'))).toBeUndefined()
    // Forgotten here already: the request goes out again for members that missed it, not refused.
    const again = (claimants: string[], b: ForgetBody, forgotten: string[]): void => { checkForget(claimants, planForget(claimants, stateOf, b), b, 'me', forgotten) }
    expect(() => { again(['live'], body(), ['dead']) }).not.toThrow()
    expect(() => { again([], body('dead'), ['dead']) }).not.toThrow()
    expect(() => { again(['live'], body('gone'), ['dead']) }).toThrow(ForgetRefusedError)
    try { checkForget(['live'], planForget(['live'], stateOf, body()), body(), 'me') } catch (err) {
      expect((err as Error).message).toContain('--peer ID')
    }
  })

  it('the wire request and answer are validated: bad names, extra fields and malformed envelopes are refused', () => {
    const op = generateOperatorKey()
    const b: ForgetBody = { op: 'forget', host: 'h.cern.ch', peer: '12D3KooWabc' }
    const envelope = signRequest(op.privateKey, 'forget', undefined, b)
    expect(decodeForgetRequest(encodeForgetRequest({ envelope, body: b }))).toEqual({ envelope, body: b })
    expect(decodeForgetRequest(encodeForgetRequest({ body: { op: 'forget', host: 'h.cern.ch' } }))).toEqual({ body: { op: 'forget', host: 'h.cern.ch' } })
    const bad = (v: unknown): void => { expect(() => decodeForgetRequest(new TextEncoder().encode(JSON.stringify(v)))).toThrow(ProtocolValidationError) }
    bad({ body: { op: 'forget', host: 'bad_name!' } })
    bad({ body: { op: 'forget', host: 'h.cern.ch', peer: 'not/base58' } })
    bad({ body: { op: 'deploy', host: 'h.cern.ch' } })
    bad({ body: { op: 'forget', host: 'h.cern.ch', extra: 1 } })
    bad({ envelope: { ...envelope, sig: 5 }, body: b })
    bad({ envelope, body: b, more: true })
    const res = { forgotten: [{ peerId: 'p', epoch: 1, seq: 2 }], kept: [{ peerId: 'q', reason: 'alive' as const }] }
    expect(decodeForgetResponse(encodeForgetResponse(res))).toEqual(res)
    expect(() => decodeForgetResponse(new TextEncoder().encode(JSON.stringify({ forgotten: [], kept: [{ peerId: 'q', reason: 'whim' }] })))).toThrow(ProtocolValidationError)
  })

  it('a member runs a forwarded forget only when an admin its trust store names signed exactly it, once, in time', async () => {
    const keys: Record<Role | 'stranger', ReturnType<typeof generateOperatorKey>> = {
      admin: generateOperatorKey(), operator: generateOperatorKey(), viewer: generateOperatorKey(), stranger: generateOperatorKey()
    }
    const roles: Role[] = ['admin', 'operator', 'viewer']
    const trust = { lookup: (k: string) => { const role = roles.find(r => keys[r].publicText === k); return role !== undefined ? { key: k, role, pools: ['*'] } : undefined } }
    const now = Date.now()
    const authorize = createForgetAuthorizer({ trust, replay: new ReplayCache(), now: () => now })
    const body: ForgetBody = { op: 'forget', host: 'h.cern.ch' }
    const signed = (who: keyof typeof keys, b: ForgetBody = body, time = now) => ({ envelope: signRequest(keys[who].privateKey, 'forget', undefined, b, { time }), body })
    const reason = async (req: Parameters<typeof authorize>[0]): Promise<string> => {
      try { await authorize(req, 'peer'); return 'ok' } catch (err) { return (err as { reason?: string }).reason ?? String(err) }
    }
    const good = signed('admin')
    expect(await reason(good)).toBe('ok')
    expect(await reason(good)).toBe('replayed')
    expect(await reason({ body })).toBe('unsigned')
    expect(await reason(signed('viewer'))).toBe('role-not-allowed')
    expect(await reason(signed('operator'))).toBe('role-not-allowed')
    expect(await reason(signed('stranger'))).toBe('unknown-key')
    expect(await reason(signed('admin', { op: 'forget', host: 'other.cern.ch' }))).toBe('body-mismatch')
    expect(await reason(signed('admin', body, now - 10 * 60_000))).toBe('time-window')
    const deploySigned = { envelope: signRequest(keys.admin.privateKey, 'deploy', 'web', body), body }
    expect(await reason(deploySigned)).toBe('action-mismatch')

    const insecure = createForgetAuthorizer({ trust, replay: new ReplayCache(), now: () => now, insecure: true })
    await expect(insecure({ body }, 'peer')).resolves.toBeUndefined()
    await expect(insecure(signed('viewer'), 'peer')).rejects.toMatchObject({ reason: 'role-not-allowed' })
  })
})
