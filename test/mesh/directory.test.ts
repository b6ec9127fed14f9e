import { describe, expect, it } from 'vitest'
import { ann, peer } from './announcements.ts'
import { Directory, signAnnouncement } from '../../node/mesh/directory.ts'
import { decodeSignedAnnouncement, encodeSignedAnnouncement } from '../../protocol/directory.ts'
import { realClock } from '../../node/seams/clock.ts'
import { MAX_ANNOUNCEMENT_BYTES } from '../../protocol/limits.ts'

describe('host directory', () => {
  it('accepts a signed announcement and resolves by host name and by address', async () => {
    const p = await peer()
    const d = new Directory({ clock: realClock })
    expect(await d.accept(await signAnnouncement(p.key, ann(p.id)))).toBe('accepted')
    expect(d.resolveHost('machine9.cern.ch')).toBe(p.id)
    expect(d.resolveHost('MACHINE9.cern.ch.')).toBe(p.id)
    expect(d.resolveHost('10.0.0.9')).toBe(p.id)
    expect(d.resolveHost('machine10.cern.ch')).toBeUndefined()
  })

  it('refuses an announcement signed by another key than the peer id it claims (forgery)', async () => {
    const victim = await peer()
    const forger = await peer()
    const d = new Directory({ clock: realClock })
    await expect(d.accept(await signAnnouncement(forger.key, ann(victim.id)), { from: forger.id }))
      .rejects.toMatchObject({ name: 'AnnouncementRejectedError', reason: 'signature', peer: forger.id })
    expect(d.resolveHost('machine9.cern.ch')).toBeUndefined()
  })

  it('refuses a tampered payload, a truncated signature and an invalid host name', async () => {
    const p = await peer()
    const d = new Directory({ clock: realClock })
    const signed = decodeSignedAnnouncement(await signAnnouncement(p.key, ann(p.id)))
    const tampered = new Uint8Array(signed.payload)
    tampered[tampered.indexOf(0x39)] = 0x38 // machine9 -> machine8
    await expect(d.accept(encodeSignedAnnouncement({ payload: tampered, signature: signed.signature }))).rejects.toMatchObject({ reason: 'signature' })
    await expect(d.accept(encodeSignedAnnouncement({ payload: signed.payload, signature: signed.signature.subarray(0, 10) }))).rejects.toMatchObject({ reason: 'invalid' })
    await expect(d.accept(await signAnnouncement(p.key, ann(p.id, { hostNames: ['bad_name!'] })))).rejects.toMatchObject({ reason: 'invalid' })
    await expect(d.accept(new Uint8Array(MAX_ANNOUNCEMENT_BYTES + 1))).rejects.toMatchObject({ reason: 'too-large' })
  })

  it('carries the optional images and insecure fields, and refuses a bad image entry or too many', async () => {
    const p = await peer()
    const d = new Directory({ clock: realClock })
    const id = 'a'.repeat(64)
    await d.accept(await signAnnouncement(p.key, ann(p.id, { images: ['debian-12', id], insecure: true })))
    expect(d.entries()[0]!.announcement).toMatchObject({ images: ['debian-12', id], insecure: true })
    await expect(d.accept(await signAnnouncement(p.key, ann(p.id, { seq: 2, images: ['../etc'] })))).rejects.toMatchObject({ reason: 'invalid' })
    await expect(d.accept(await signAnnouncement(p.key, ann(p.id, { seq: 2, images: Array.from({ length: 33 }, (_, i) => `img${i}`) })))).rejects.toMatchObject({ reason: 'invalid' })
    // The largest legal announcement fits the bound: every list at its limit.
    const big = ann(p.id, { seq: 3, hostNames: Array.from({ length: 16 }, (_, i) => `${'h'.repeat(60)}${i}.${'x'.repeat(60)}.${'y'.repeat(60)}.${'z'.repeat(60)}`.slice(0, 253)), images: Array.from({ length: 32 }, (_, i) => `${'i'.repeat(125)}${i}`.slice(0, 128)) })
    await d.accept(await signAnnouncement(p.key, big))
    expect(d.entries()[0]!.announcement.seq).toBe(3)
  })

  it('keeps the newest version: (epoch, seq) must grow', async () => {
    const p = await peer()
    const d = new Directory({ clock: realClock })
    await d.accept(await signAnnouncement(p.key, ann(p.id, { seq: 5 })))
    expect(await d.accept(await signAnnouncement(p.key, ann(p.id, { seq: 4, hostNames: ['old.cern.ch'] })))).toBe('stale')
    expect(await d.accept(await signAnnouncement(p.key, ann(p.id, { epoch: 2000, seq: 1, hostNames: ['new.cern.ch'] })))).toBe('accepted')
    expect(d.resolveHost('new.cern.ch')).toBe(p.id)
    expect(d.resolveHost('machine9.cern.ch')).toBeUndefined() // the old claim went with the old version
  })

  it('records a conflict when two peers claim a name, and clears it when one gives the name up', async () => {
    const a = await peer(); const b = await peer()
    const d = new Directory({ clock: realClock })
    await d.accept(await signAnnouncement(a.key, ann(a.id)))
    await d.accept(await signAnnouncement(b.key, ann(b.id, { addrs: [] })))
    expect(d.conflicts()).toEqual([{ hostName: 'machine9.cern.ch', peers: [a.id, b.id].sort() }])
    expect(d.resolveHost('machine9.cern.ch')).toBeUndefined()
    expect(d.get(a.id)?.announcement.hostNames).toEqual(['machine9.cern.ch']) // nothing overwritten
    await d.accept(await signAnnouncement(b.key, ann(b.id, { addrs: [], seq: 2, hostNames: ['machine10.cern.ch'] })))
    expect(d.conflicts()).toEqual([])
    expect(d.resolveHost('machine9.cern.ch')).toBe(a.id)
  })
})
