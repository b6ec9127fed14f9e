import { createRequire } from 'node:module'
import { ProtocolValidationError } from '../../protocol/errors.ts'
import { arr, bool, int, jsonBytes, obj, oneOf, onlyKeys, parseJsonBytes, str, strs } from '../../protocol/validate.ts'
import type { Obj } from '../../protocol/validate.ts'
import type { ComponentStatus, TerminationRecord } from '../engine/types.ts'
import type { SfJson, SfJsonObject } from '../sf/sfjson.ts'
import type { PrepareAuth, SignedRequest } from './auth.ts'
import { MAX_REF_HOPS } from './remote-refs.ts'
import type { Claims, DeployRequest, DeployResponse, OrphanDecision, PartPlan, PoolPartView, PoolRecordView, PoolVmView, RemoteChild } from './types.ts'

// How deploy messages cross the wire (one protocol, request/response, node/mesh/rpc.ts): JSON, bounded in size,
// and validated field by field on receipt, unknown fields refused, so a peer cannot smuggle anything past the
// participant. A prepare carries whole subtrees (a 10,000-VM pool resolves to ~3 MB), hence the larger bound.
// A message of COMPRESS_FROM bytes or more goes deflated, behind a NUL byte (JSON never starts with one): the pool
// record of a running pool carries every part's plan (108 KB for 100 VMs over 20 hosts, 6.4 KB deflated in 0.45 ms)
// and goes to every member at each update; sent as JSON, its copies in noise, the pool key's cipher and yamux were
// ~6 MiB of the entry peer's memory at the end of every deploy (BENCHMARKS.md, Mesh → Memory). The bound applies to
// the inflated JSON: inflating stops there.

export const DEPLOY_PROTOCOL = '/sdpeer/deploy/1.1.0'
export const MAX_DEPLOY_MESSAGE_BYTES = 8 * 1024 * 1024
export const COMPRESS_FROM = 16 * 1024
const DEFLATED = 0x00
/** node:zlib, loaded with the first big message (a daemon that never deploys one does not carry it). */
let zlib: typeof import('node:zlib') | undefined
const z = (): typeof import('node:zlib') => (zlib ??= createRequire(import.meta.url)('node:zlib') as typeof import('node:zlib'))

const ID = 256
const PATH = 4096
const TEXT = 16 * 1024
/** A reference's text (the rest of a walk handed to another peer). */
const REF = 4096
const MAX_PARTS = 10_000
const MAX_KEYS = 100_000
const MAX_DEPTH = 128

function sfjson (v: unknown, path: string, depth = 0): SfJson {
  if (depth > MAX_DEPTH) throw new ProtocolValidationError(path, `nested deeper than ${MAX_DEPTH}`)
  if (v === null || typeof v === 'boolean' || typeof v === 'string') return v
  if (typeof v === 'number') { if (!Number.isFinite(v)) throw new ProtocolValidationError(path, 'not a finite number'); return v }
  if (Array.isArray(v)) return v.map((x, i) => sfjson(x, `${path}[${i}]`, depth + 1))
  if (typeof v === 'object') {
    const o = v as Obj
    for (const k of Object.keys(o)) { if (k === '__proto__') throw new ProtocolValidationError(path, 'forbidden key'); sfjson(o[k], `${path}.${k}`, depth + 1) }
    return o as SfJsonObject
  }
  throw new ProtocolValidationError(path, 'not JSON')
}

const opt = <T> (o: Obj, k: string, f: (v: unknown) => T): Record<string, T> => o[k] === undefined ? {} : { [k]: f(o[k]) }
const pathStr = (v: unknown, p: string): string => str(v, p, PATH, 0)

function claims (v: unknown, p: string): Claims {
  const o = obj(v, p); onlyKeys(o, p, ['names', 'ips', 'pool'])
  return { names: strs(o.names, `${p}.names`, MAX_KEYS, 255), ips: strs(o.ips, `${p}.ips`, MAX_KEYS, 64), ...opt(o, 'pool', x => str(x, `${p}.pool`, ID)) }
}

function remoteChild (v: unknown, p: string): RemoteChild {
  const o = obj(v, p); onlyKeys(o, p, ['path', 'host', 'peer'])
  return { path: pathStr(o.path, `${p}.path`), host: str(o.host, `${p}.host`, 255), peer: str(o.peer, `${p}.peer`, ID) }
}

function part (v: unknown, p: string): PartPlan {
  const o = obj(v, p)
  onlyKeys(o, p, ['path', 'host', 'peer', 'parentPath', 'parentPeer', 'config', 'remoteChildren', 'syncTerminate', 'livenessDelayMs', 'livenessFactor'])
  return {
    path: pathStr(o.path, `${p}.path`),
    host: str(o.host, `${p}.host`, 255),
    peer: str(o.peer, `${p}.peer`, ID),
    ...opt(o, 'parentPath', x => pathStr(x, `${p}.parentPath`)),
    ...opt(o, 'parentPeer', x => str(x, `${p}.parentPeer`, ID)),
    config: obj(sfjson(o.config, `${p}.config`), `${p}.config`) as SfJsonObject,
    remoteChildren: arr(o.remoteChildren, `${p}.remoteChildren`, MAX_PARTS).map((c, i) => remoteChild(c, `${p}.remoteChildren[${i}]`)),
    syncTerminate: bool(o.syncTerminate, `${p}.syncTerminate`),
    livenessDelayMs: int(o.livenessDelayMs, `${p}.livenessDelayMs`, 0, 86_400_000),
    livenessFactor: int(o.livenessFactor, `${p}.livenessFactor`, 1, 1000)
  }
}

function record (v: unknown, p: string): TerminationRecord {
  const o = obj(v, p); onlyKeys(o, p, ['type', 'reason', 'path'])
  return { type: oneOf(o.type, `${p}.type`, ['normal', 'abnormal', 'externalReferenceDead'] as const), reason: str(o.reason, `${p}.reason`, TEXT, 0), path: pathStr(o.path, `${p}.path`) }
}

const POOL_STATES = ['preparing', 'committing', 'running', 'terminating', 'terminated', 'failed'] as const
const PLACEMENTS = ['reserved', 'running', 'failed'] as const
function poolVm (v: unknown, p: string): PoolVmView {
  const o = obj(v, p); onlyKeys(o, p, ['path', 'pinned', 'memoryMiB', 'vcpus', 'hosts', 'image', 'driver', 'requires', 'plan', 'auth'])
  return {
    path: pathStr(o.path, `${p}.path`),
    pinned: bool(o.pinned, `${p}.pinned`),
    memoryMiB: int(o.memoryMiB, `${p}.memoryMiB`, 0, 1 << 30),
    vcpus: int(o.vcpus, `${p}.vcpus`, 0, 1 << 20),
    ...opt(o, 'hosts', x => strs(x, `${p}.hosts`, MAX_PARTS, 255)),
    ...opt(o, 'image', x => str(x, `${p}.image`, TEXT)),
    ...opt(o, 'driver', x => str(x, `${p}.driver`, TEXT)),
    ...opt(o, 'requires', x => str(x, `${p}.requires`, TEXT)),
    ...opt(o, 'plan', x => part(x, `${p}.plan`)),
    ...opt(o, 'auth', x => prepareAuth(x, `${p}.auth`))
  }
}

function poolPart (v: unknown, p: string): PoolPartView {
  const o = obj(v, p); onlyKeys(o, p, ['path', 'plan', 'auth'])
  return { path: pathStr(o.path, `${p}.path`), plan: part(o.plan, `${p}.plan`), ...opt(o, 'auth', x => prepareAuth(x, `${p}.auth`)) }
}

function poolRecord (v: unknown, p: string): PoolRecordView {
  const o = obj(v, p); onlyKeys(o, p, ['pool', 'entry', 'deployId', 'parts', 'claims', 'state', 'version', 'reason', 'participants', 'vms', 'partPlans'])
  return {
    pool: str(o.pool, `${p}.pool`, ID),
    entry: str(o.entry, `${p}.entry`, ID),
    deployId: str(o.deployId, `${p}.deployId`, ID),
    parts: arr(o.parts, `${p}.parts`, MAX_PARTS).map((x, i) => {
      const q = `${p}.parts[${i}]`; const po = obj(x, q); onlyKeys(po, q, ['path', 'host', 'peer', 'parentPath', 'epoch', 'placement', 'reason'])
      return {
        path: pathStr(po.path, `${q}.path`),
        host: str(po.host, `${q}.host`, 255),
        peer: str(po.peer, `${q}.peer`, ID),
        ...opt(po, 'parentPath', y => pathStr(y, `${q}.parentPath`)),
        ...opt(po, 'epoch', y => int(y, `${q}.epoch`, 1)),
        ...opt(po, 'placement', y => oneOf(y, `${q}.placement`, PLACEMENTS)),
        ...opt(po, 'reason', y => str(y, `${q}.reason`, TEXT, 0))
      }
    }),
    ...opt(o, 'participants', x => strs(x, `${p}.participants`, MAX_PARTS, ID)),
    ...opt(o, 'vms', x => arr(x, `${p}.vms`, MAX_PARTS).map((y, i) => poolVm(y, `${p}.vms[${i}]`))),
    ...opt(o, 'partPlans', x => arr(x, `${p}.partPlans`, MAX_PARTS).map((y, i) => poolPart(y, `${p}.partPlans[${i}]`))),
    claims: claims(o.claims, `${p}.claims`),
    state: oneOf(o.state, `${p}.state`, POOL_STATES),
    version: int(o.version, `${p}.version`, 1),
    ...opt(o, 'reason', x => str(x, `${p}.reason`, TEXT, 0))
  }
}

const COMPONENT_STATES = ['deploying', 'deployed', 'running', 'terminating', 'terminated', 'failed'] as const
function component (v: unknown, p: string): ComponentStatus {
  const o = obj(v, p); onlyKeys(o, p, ['path', 'type', 'host', 'state', 'reason'])
  return { path: pathStr(o.path, `${p}.path`), type: str(o.type, `${p}.type`, 255), host: str(o.host, `${p}.host`, 255), state: oneOf(o.state, `${p}.state`, COMPONENT_STATES), ...opt(o, 'reason', x => str(x, `${p}.reason`, TEXT, 0)) }
}

// The envelope's own shape is checked by the verifier (protocol/auth parseEnvelope); here only its size is bounded.
const MAX_ENVELOPE = 64
const HEX64 = /^[0-9a-f]{64}$/
function prepareAuth (v: unknown, p: string): PrepareAuth {
  const o = obj(v, p); onlyKeys(o, p, ['envelope', 'skeletons', 'parts'])
  const env = obj(o.envelope, `${p}.envelope`)
  if (Object.keys(env).length > MAX_ENVELOPE) throw new ProtocolValidationError(`${p}.envelope`, 'too many fields')
  sfjson(env, `${p}.envelope`)
  return {
    envelope: env,
    skeletons: arr(o.skeletons, `${p}.skeletons`, MAX_DEPTH + 2).map((x, i) => {
      const q = `${p}.skeletons[${i}]`; const so = obj(x, q); onlyKeys(so, q, ['at', 'skeleton'])
      return { at: pathStr(so.at, `${q}.at`), skeleton: obj(sfjson(so.skeleton, `${q}.skeleton`), `${q}.skeleton`) }
    }),
    parts: arr(o.parts, `${p}.parts`, MAX_PARTS).map((x, i) => {
      const q = `${p}.parts[${i}]`; const po = obj(x, q); onlyKeys(po, q, ['path', 'cuts', 'placed'])
      return {
        path: pathStr(po.path, `${q}.path`),
        cuts: arr(po.cuts, `${q}.cuts`, MAX_PARTS).map((c, j) => {
          const r = `${q}.cuts[${j}]`; const co = obj(c, r); onlyKeys(co, r, ['path', 'digest'])
          const digest = str(co.digest, `${r}.digest`, 64, 64)
          if (!HEX64.test(digest)) throw new ProtocolValidationError(`${r}.digest`, 'not a sha256 hex digest')
          return { path: pathStr(co.path, `${r}.path`), digest }
        }),
        placed: strs(po.placed, `${q}.placed`, MAX_PARTS, PATH)
      }
    })
  }
}

function signedRequest (v: unknown, p: string): SignedRequest {
  const o = obj(v, p); onlyKeys(o, p, ['envelope', 'body'])
  const env = obj(o.envelope, `${p}.envelope`)
  if (Object.keys(env).length > MAX_ENVELOPE) throw new ProtocolValidationError(`${p}.envelope`, 'too many fields')
  sfjson(env, `${p}.envelope`)
  return { envelope: env, body: obj(sfjson(o.body, `${p}.body`), `${p}.body`) }
}

function orphanDecision (v: unknown): OrphanDecision {
  if (typeof v === 'string') return oneOf(v, 'decision', ['terminate', 'keep', 'wait'] as const)
  const o = obj(v, 'decision'); onlyKeys(o, 'decision', ['reparent'])
  return { reparent: str(o.reparent, 'decision.reparent', ID) }
}

const waitMs = (o: Obj): Record<string, number> => opt(o, 'waitMs', x => int(x, 'waitMs', 0, 3_600_000))
const kind = (v: unknown, p: string): 'name' | 'ip' | 'pool' => oneOf(v, p, ['name', 'ip', 'pool'] as const)

export function validateDeployRequest (v: unknown): DeployRequest {
  const o = obj(v, '')
  const t = str(o.type, 'type', 32)
  const keys = (...k: string[]): void => onlyKeys(o, '', ['type', ...k])
  const s = (k: string, max = ID, min = 1): string => str(o[k], k, max, min)
  switch (t) {
    case 'prepare': keys('deployId', 'pool', 'coordinator', 'parts', 'participants', 'leaseMs', 'auth', 'replace')
      return {
        type: t, deployId: s('deployId'), pool: s('pool'), coordinator: s('coordinator'), parts: arr(o.parts, 'parts', MAX_PARTS).map((x, i) => part(x, `parts[${i}]`)), participants: strs(o.participants, 'participants', MAX_PARTS, ID), leaseMs: int(o.leaseMs, 'leaseMs', 1, 86_400_000), ...opt(o, 'auth', x => prepareAuth(x, 'auth')),
        ...opt(o, 'replace', x => { const r = obj(x, 'replace'); onlyKeys(r, 'replace', ['epoch']); return { epoch: int(r.epoch, 'replace.epoch', 2) } })
      }
    case 'commit': keys('deployId', 'pool', 'waitMs'); return { type: t, deployId: s('deployId'), pool: s('pool'), ...waitMs(o) }
    case 'abort': keys('deployId', 'pool', 'reason', 'waitMs'); return { type: t, deployId: s('deployId'), pool: s('pool'), reason: s('reason', TEXT, 0), ...waitMs(o) }
    case 'claim': keys('deployId', 'pool', 'claims', 'leaseMs'); return { type: t, deployId: s('deployId'), pool: s('pool'), claims: claims(o.claims, 'claims'), leaseMs: int(o.leaseMs, 'leaseMs', 1, 86_400_000) }
    case 'claim-confirm':
    case 'claim-release': keys('deployId', 'pool', 'claims'); return { type: t, deployId: s('deployId'), pool: s('pool'), claims: claims(o.claims, 'claims') }
    case 'terminate-part': keys('pool', 'path', 'kind', 'reason', 'fromParent', 'waitMs', 'auth', 'component', 'cascade')
      return { type: t, pool: s('pool'), path: s('path', PATH, 0), kind: oneOf(o.kind, 'kind', ['normal', 'abnormal'] as const), reason: s('reason', TEXT, 0), fromParent: bool(o.fromParent, 'fromParent'), ...waitMs(o), ...opt(o, 'auth', x => signedRequest(x, 'auth')), ...opt(o, 'component', x => str(x, 'component', PATH, 1)), ...opt(o, 'cascade', x => { if (x !== false) throw new ProtocolValidationError('cascade', 'only false'); return false as const }) }
    case 'status': keys('pool'); return { type: t, pool: s('pool') }
    case 'get': keys('pool', 'path', 'attr'); return { type: t, pool: s('pool'), path: s('path', PATH, 0), ...opt(o, 'attr', x => str(x, 'attr', 255)) }
    case 'set': keys('pool', 'path', 'attr', 'value', 'auth'); return { type: t, pool: s('pool'), path: s('path', PATH, 0), attr: s('attr', 255), value: sfjson(o.value, 'value'), ...opt(o, 'auth', x => signedRequest(x, 'auth')) }
    case 'resolve': {
      keys('pool', 'path', 'attr', 'ref', 'hops', 'budgetMs')
      // Exactly one of attr (one attribute) and ref (the rest of a reference walk, with its hops and time left).
      if ((o.attr === undefined) === (o.ref === undefined)) throw new ProtocolValidationError('ref', 'a resolve names either attr or ref')
      if (o.attr !== undefined) return { type: t, pool: s('pool'), path: s('path', PATH, 0), attr: s('attr', 255) }
      return { type: t, pool: s('pool'), path: s('path', PATH, 0), ref: s('ref', REF), hops: int(o.hops, 'hops', 1, MAX_REF_HOPS), budgetMs: int(o.budgetMs, 'budgetMs', 1, 600_000) }
    }
    case 'termination': keys('pool', 'path', 'record'); return { type: t, pool: s('pool'), path: s('path', PATH, 0), record: record(o.record, 'record') }
    case 'ping': keys('pool', 'path'); return { type: t, pool: s('pool'), path: s('path', PATH, 0) }
    case 'orphan': keys('pool', 'path', 'peer', 'parentPeer'); return { type: t, pool: s('pool'), path: s('path', PATH, 0), peer: s('peer'), parentPeer: s('parentPeer') }
    case 'registry-put': keys('record'); return { type: t, record: poolRecord(o.record, 'record') }
    case 'registry-list': keys(); return { type: t }
    default: throw new ProtocolValidationError('type', `unknown deploy request ${JSON.stringify(t)}`)
  }
}

export function validateDeployResponse (v: unknown): DeployResponse {
  const o = obj(v, '')
  const t = str(o.type, 'type', 32)
  const keys = (...k: string[]): void => onlyKeys(o, '', ['type', ...k])
  switch (t) {
    case 'prepared':
    case 'committed': {
      keys('ok', 'reason', 'components')
      if (!bool(o.ok, 'ok')) return { type: t, ok: false, reason: str(o.reason, 'reason', TEXT, 0) }
      if (t === 'prepared') return { type: t, ok: true }
      return { type: t, ok: true, components: arr(o.components, 'components', MAX_KEYS).map((c, i) => component(c, `components[${i}]`)) }
    }
    case 'claim': keys('refused')
      return { type: t, refused: arr(o.refused, 'refused', MAX_KEYS).map((x, i) => { const p = `refused[${i}]`; const r = obj(x, p); onlyKeys(r, p, ['kind', 'value', 'heldBy']); return { kind: kind(r.kind, `${p}.kind`), value: str(r.value, `${p}.value`, 255), heldBy: str(r.heldBy, `${p}.heldBy`, ID) } }) }
    case 'status': keys('components', 'termination')
      return { type: t, components: arr(o.components, 'components', MAX_KEYS).map((c, i) => component(c, `components[${i}]`)), ...opt(o, 'termination', x => record(x, 'termination')) }
    case 'value': keys('value'); return { type: t, value: sfjson(o.value, 'value') }
    case 'pong': keys('alive'); return { type: t, alive: bool(o.alive, 'alive') }
    case 'orphan': keys('decision'); return { type: t, decision: orphanDecision(o.decision) }
    case 'registry': keys('records'); return { type: t, records: arr(o.records, 'records', MAX_KEYS).map((r, i) => poolRecord(r, `records[${i}]`)) }
    case 'ok': keys(); return { type: t }
    case 'pending': keys(); return { type: t }
    default: throw new ProtocolValidationError('type', `unknown deploy response ${JSON.stringify(t)}`)
  }
}

export function encodeDeployMessage (m: DeployRequest | DeployResponse): Uint8Array {
  const b = jsonBytes(m)
  if (b.byteLength > MAX_DEPLOY_MESSAGE_BYTES) throw new ProtocolValidationError('', `${b.byteLength} bytes exceeds the limit of ${MAX_DEPLOY_MESSAGE_BYTES}`)
  if (b.byteLength < COMPRESS_FROM) return b
  const deflated = z().deflateRawSync(b)
  const out = new Uint8Array(deflated.byteLength + 1)
  out[0] = DEFLATED
  out.set(deflated, 1)
  return out
}

/** The JSON bytes of a message: as they came, or inflated (never past the bound). */
function messageJson (b: Uint8Array): Uint8Array {
  if (b.byteLength === 0 || b[0] !== DEFLATED) return b
  try {
    return z().inflateRawSync(b.subarray(1), { maxOutputLength: MAX_DEPLOY_MESSAGE_BYTES })
  } catch (err) {
    throw new ProtocolValidationError('', (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE'
      ? `inflates past the limit of ${MAX_DEPLOY_MESSAGE_BYTES} bytes`
      : 'not valid deflated data')
  }
}

export const decodeDeployRequest = (b: Uint8Array): DeployRequest => validateDeployRequest(parseJsonBytes(messageJson(b), MAX_DEPLOY_MESSAGE_BYTES))
export const decodeDeployResponse = (b: Uint8Array): DeployResponse => validateDeployResponse(parseJsonBytes(messageJson(b), MAX_DEPLOY_MESSAGE_BYTES))
