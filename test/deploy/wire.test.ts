import { describe, expect, it } from 'vitest'
import { deflateRawSync } from 'node:zlib'
import { COMPRESS_FROM, decodeDeployRequest, decodeDeployResponse, encodeDeployMessage, MAX_DEPLOY_MESSAGE_BYTES } from '../../node/deploy/wire.ts'
import { splitPool } from '../../node/deploy/split.ts'
import type { DeployRequest, DeployResponse } from '../../node/deploy/types.ts'
import { distVirtualPool } from './fixtures.ts'

const enc = (v: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(v))

describe('deploy wire codec', () => {
  const plan = splitPool(distVirtualPool(), { pool: 'dist', entryPeer: 'E', entryHost: 'entry', resolveHost: h => h.startsWith('machine9') ? 'P9' : 'P10' })

  it('round-trips every request and response type unchanged', () => {
    const reqs: DeployRequest[] = [
      { type: 'prepare', deployId: 'd', pool: 'dist', coordinator: 'E', parts: plan.parts, participants: ['E', 'P9'], leaseMs: 30000 },
      { type: 'commit', deployId: 'd', pool: 'dist', waitMs: 5000 },
      { type: 'abort', deployId: 'd', pool: 'dist', reason: 'x' },
      { type: 'claim', deployId: 'd', pool: 'dist', claims: { names: ['a'], ips: ['10.0.0.1'] }, leaseMs: 1 },
      { type: 'claim-release', deployId: 'd', pool: 'dist', claims: { names: [], ips: [] } },
      { type: 'terminate-part', pool: 'dist', path: 'computer1', kind: 'normal', reason: '', fromParent: true },
      { type: 'set', pool: 'dist', path: 'a:b', attr: 'memory', value: { x: [1, 'two', null, true] } },
      { type: 'termination', pool: 'dist', path: 'computer2', record: { type: 'abnormal', reason: 'died', path: 'computer2:domain2' } },
      { type: 'orphan', pool: 'dist', path: 'c', peer: 'P9', parentPeer: 'E' },
      { type: 'registry-put', record: { pool: 'dist', entry: 'E', deployId: 'd', parts: [{ path: '', host: 'e', peer: 'E' }], claims: { names: [], ips: [] }, state: 'running', version: 3 } },
      { type: 'registry-put', record: { pool: 'dist', entry: 'E', deployId: 'd', parts: [{ path: '', host: 'e2', peer: 'E2', epoch: 2, placement: 'reserved' }], partPlans: [{ path: '', plan: plan.parts[0]! }], claims: { names: [], ips: [] }, state: 'running', version: 4 } },
      { type: 'registry-list' }
    ]
    for (const r of reqs) expect(decodeDeployRequest(encodeDeployMessage(r))).toEqual(r)
    const ress: DeployResponse[] = [
      { type: 'prepared', ok: false, reason: 'no capacity' },
      { type: 'committed', ok: true, components: [{ path: 'a', type: 'XenDomain', host: 'h', state: 'running' }] },
      { type: 'claim', refused: [{ kind: 'name', value: 'web', heldBy: 'alpha' }] },
      { type: 'status', components: [], termination: { type: 'normal', reason: '', path: '' } },
      { type: 'pong', alive: true },
      { type: 'orphan', decision: 'wait' },
      { type: 'orphan', decision: { reparent: 'P10' } },
      { type: 'pending' }
    ]
    for (const r of ress) expect(decodeDeployResponse(encodeDeployMessage(r))).toEqual(r)
  })

  it('refuses unknown types, unknown fields, wrong shapes and oversized input, naming the field', () => {
    const bad = (v: unknown): unknown => { try { decodeDeployRequest(enc(v)); return undefined } catch (e) { return e } }
    expect(bad({ type: 'explode' })).toMatchObject({ name: 'ProtocolValidationError', path: 'type' })
    expect(bad({ type: 'status', pool: 'p', extra: 1 })).toMatchObject({ name: 'ProtocolValidationError', path: 'extra' })
    expect(bad({ type: 'commit', deployId: 7, pool: 'p' })).toMatchObject({ path: 'deployId' })
    const part = { ...plan.parts[1], livenessFactor: 0 }
    expect(bad({ type: 'prepare', deployId: 'd', pool: 'p', coordinator: 'E', parts: [part], participants: [], leaseMs: 1 })).toMatchObject({ path: 'parts[0].livenessFactor' })
    let deep: unknown = 1
    for (let i = 0; i < 200; i++) deep = [deep]
    expect(bad({ type: 'set', pool: 'p', path: '', attr: 'a', value: deep })).toMatchObject({ name: 'ProtocolValidationError' })
    expect(() => decodeDeployRequest(new Uint8Array(MAX_DEPLOY_MESSAGE_BYTES + 1))).toThrow(expect.objectContaining({ name: 'ProtocolValidationError' }))
    expect(() => decodeDeployResponse(enc({ type: 'orphan', decision: 'adopt' }))).toThrow(expect.objectContaining({ path: 'decision' }))
    expect(() => decodeDeployResponse(enc({ type: 'orphan', decision: { reparent: '' } }))).toThrow(expect.objectContaining({ path: 'decision.reparent' }))
    expect(() => decodeDeployResponse(enc({ type: 'orphan', decision: { reparent: 'P', also: 1 } }))).toThrow(expect.objectContaining({ path: 'decision.also' }))
    const rec = { pool: 'p', entry: 'E', deployId: 'd', parts: [], claims: { names: [], ips: [] }, state: 'running', version: 1 }
    expect(bad({ type: 'registry-put', record: { ...rec, partPlans: [{ path: '', plan: { ...plan.parts[0], livenessFactor: 0 } }] } })).toMatchObject({ path: 'record.partPlans[0].plan.livenessFactor' })
  })

  it('sends a big message deflated behind a NUL byte, a small one as plain JSON, and reads both', () => {
    const small: DeployRequest = { type: 'commit', deployId: 'd', pool: 'dist', waitMs: 5000 }
    expect(encodeDeployMessage(small)[0]).toBe('{'.charCodeAt(0))
    // A registry record with many part plans, as a running pool's record is: well over COMPRESS_FROM as JSON.
    const partPlans = Array.from({ length: 40 }, (_, i) => ({ path: `computer${i}`, plan: { ...plan.parts[0]!, path: `computer${i}` } }))
    const big: DeployRequest = { type: 'registry-put', record: { pool: 'dist', entry: 'E', deployId: 'd', parts: [{ path: '', host: 'e', peer: 'E' }], partPlans, claims: { names: [], ips: [] }, state: 'running', version: 4 } }
    const json = enc(big)
    expect(json.byteLength).toBeGreaterThan(COMPRESS_FROM)
    const wire = encodeDeployMessage(big)
    expect(wire[0]).toBe(0)
    expect(wire.byteLength).toBeLessThan(json.byteLength / 4)
    expect(decodeDeployRequest(wire)).toEqual(big)
    // A plain JSON message of any size is still read as it is.
    expect(decodeDeployRequest(json)).toEqual(big)
  })

  it('refuses deflated data that inflates past the bound, and bytes that are not deflated data', () => {
    // 9 MiB of spaces around an object: valid JSON once inflated, but over the 8 MiB bound.
    const bomb = deflateRawSync(Buffer.concat([Buffer.from('{"type":"registry-list"}'), Buffer.alloc(MAX_DEPLOY_MESSAGE_BYTES + 1024 * 1024, 0x20)]))
    expect(bomb.byteLength).toBeLessThan(64 * 1024)
    const wire = new Uint8Array([0, ...bomb])
    expect(() => decodeDeployRequest(wire)).toThrow(/inflates past the limit of 8388608 bytes/)
    expect(() => decodeDeployResponse(new Uint8Array([0, 1, 2, 3, 4, 5]))).toThrow(/not valid deflated data/)
    // Within the bound it is read: the same spaces, fewer of them.
    const fine = deflateRawSync(Buffer.concat([Buffer.from('{"type":"registry-list"}'), Buffer.alloc(1024 * 1024, 0x20)]))
    expect(decodeDeployRequest(new Uint8Array([0, ...fine]))).toEqual({ type: 'registry-list' })
  })
})
