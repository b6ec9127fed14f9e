import fc from 'fast-check'
import { decodeAnnouncementPayload, decodeSignedAnnouncement, encodeAnnouncementPayload, encodeSignedAnnouncement } from '../../protocol/directory.ts'
import type { HostAnnouncement } from '../../protocol/directory.ts'
import { ProtocolValidationError } from '../../protocol/errors.ts'
import { validateDeployRequest, validateDeployResponse } from '../../node/deploy/wire.ts'
import { decodeBatch } from '../../node/images/chunk-stream.ts'
import { decodeForgetRequest, decodeForgetResponse } from '../../protocol/forget.ts'
import { mutatedJson } from './mutate.ts'
import type { FuzzTarget } from './targets.ts'

// Fuzz targets for the mesh's other wire validators: signed host announcements, deploy rpc messages, image chunk
// batch requests. Each must refuse bad input with ProtocolValidationError and nothing else. The check functions come
// from targets.ts (passed in) so known-fault bookkeeping stays in one place.

type ExpectOnly = (what: string, classes: Array<abstract new (...a: never[]) => Error>, fn: () => void) => void

const announcement: HostAnnouncement = {
  peerId: '12D3KooWExample', hostNames: ['machine9.cern.ch'], addrs: ['/ip4/127.0.0.1/tcp/4001'],
  capacity: { memoryMb: 16384, vcpus: 8 }, load: { memoryMb: 512, vcpus: 1, domains: 1 }, driver: 'sim', version: '0.1.0', epoch: 1, seq: 2
}

const bytesOf = (v: unknown): Uint8Array => { try { return new TextEncoder().encode(JSON.stringify(v) ?? 'null') } catch { return new Uint8Array([0x7b]) } }

export function wireTargets (expectOnly: ExpectOnly): FuzzTarget[] {
  const directory: FuzzTarget = {
    name: 'mesh-directory',
    input: fc.oneof(
      { weight: 3, arbitrary: fc.tuple(mutatedJson([announcement]), fc.uint8Array({ minLength: 0, maxLength: 70 })).map(([a, sig]) => encodeSignedAnnouncement({ payload: bytesOf(a), signature: sig.length >= 60 ? new Uint8Array(64).map((_, i) => sig[i % sig.length]) : sig })) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 9000 }) },
      { weight: 1, arbitrary: fc.constant(encodeSignedAnnouncement({ payload: encodeAnnouncementPayload(announcement), signature: new Uint8Array(64) })) }
    ),
    check (bytes) {
      expectOnly('decodeSignedAnnouncement + payload', [ProtocolValidationError], () => {
        decodeAnnouncementPayload(decodeSignedAnnouncement(bytes as Uint8Array).payload)
      })
    }
  }

  const deployRequests = [
    { type: 'status', pool: 'web' },
    { type: 'commit', deployId: 'd1', pool: 'web', waitMs: 100 },
    { type: 'abort', deployId: 'd1', pool: 'web', reason: 'x' },
    { type: 'set', pool: 'web', path: 'c1:vm', attr: 'memory', value: { a: [1, null, 'x'] } },
    { type: 'terminate-part', pool: 'web', path: 'c1', kind: 'abnormal', reason: 'r', fromParent: true },
    { type: 'claim', deployId: 'd1', pool: 'web', claims: { names: ['dom1'], ips: ['192.0.2.1'] }, leaseMs: 1000 },
    { type: 'termination', pool: 'web', path: 'c1', record: { type: 'normal', reason: '', path: 'c1' } },
    { type: 'registry-list' }
  ]
  const deployResponses = [
    { type: 'prepared', ok: true },
    { type: 'committed', ok: false, reason: 'no' },
    { type: 'claim', refused: [{ kind: 'ip', value: '192.0.2.1', heldBy: 'other' }] },
    { type: 'status', components: [{ path: 'c1', type: 'VM', host: 'h', state: 'running' }] }
  ]
  const deployWire: FuzzTarget = {
    name: 'deploy-wire',
    input: fc.oneof(
      { weight: 3, arbitrary: mutatedJson(deployRequests).map(v => ({ dir: 'req', v })) },
      { weight: 2, arbitrary: mutatedJson(deployResponses).map(v => ({ dir: 'res', v })) },
      { weight: 1, arbitrary: fc.record({ dir: fc.constantFrom('req', 'res'), v: fc.jsonValue({ maxDepth: 6 }) }) }
    ),
    check (input) {
      const { dir, v } = input as { dir: string, v: unknown }
      // The rpc layer hands validators parsed JSON: go through a JSON round trip as the wire would.
      const parsed = JSON.parse(JSON.stringify(v) ?? 'null')
      expectOnly(dir === 'req' ? 'validateDeployRequest' : 'validateDeployResponse', [ProtocolValidationError], () => {
        if (dir === 'req') validateDeployRequest(parsed); else validateDeployResponse(parsed)
      })
    }
  }

  const chunks: FuzzTarget = {
    name: 'image-chunks',
    input: fc.oneof(
      { weight: 3, arbitrary: mutatedJson([{ id: 'a'.repeat(64), indices: [0, 1, 2] }]).map(bytesOf) },
      { weight: 1, arbitrary: fc.uint8Array({ maxLength: 4096 }) }
    ),
    check (bytes) {
      expectOnly('decodeBatch', [ProtocolValidationError], () => { decodeBatch(bytes as Uint8Array) })
    }
  }

  // `hosts forget` between peers: the request (with an envelope of the right shape to mutate) and the answer.
  const envelope = { v: 1, id: 'a'.repeat(32), time: 1, operator: `ed25519:${'A'.repeat(43)}`, action: 'forget', bodyDigest: 'b'.repeat(64), sig: 'c'.repeat(86) }
  const forget: FuzzTarget = {
    name: 'directory-forget',
    input: fc.oneof(
      { weight: 3, arbitrary: mutatedJson([{ envelope, body: { op: 'forget', host: 'h.cern.ch', peer: '12D3KooWExample' } }]).map(v => ({ dir: 'req', b: bytesOf(v) })) },
      { weight: 2, arbitrary: mutatedJson([{ forgotten: [{ peerId: 'p', epoch: 1, seq: 2 }], kept: [{ peerId: 'q', reason: 'alive' }] }]).map(v => ({ dir: 'res', b: bytesOf(v) })) },
      { weight: 1, arbitrary: fc.record({ dir: fc.constantFrom('req', 'res'), b: fc.uint8Array({ maxLength: 4096 }) }) }
    ),
    check (input) {
      const { dir, b } = input as { dir: string, b: Uint8Array }
      expectOnly(dir === 'req' ? 'decodeForgetRequest' : 'decodeForgetResponse', [ProtocolValidationError], () => {
        if (dir === 'req') decodeForgetRequest(b); else decodeForgetResponse(b)
      })
    }
  }

  return [directory, deployWire, chunks, forget]
}
