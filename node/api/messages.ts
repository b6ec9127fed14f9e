import type { SfJson, SfJsonObject } from '../sf/sfjson.ts'
import type { EngineEvent, PoolStatus } from '../engine/types.ts'
import type { VmQueryRecord } from '../scheduler/vm-records.ts'
import type { ForgetOutcome } from '../mesh/forget.ts'
import { AuthError, parseEnvelope } from '../../protocol/auth/index.ts'
import type { RequestEnvelope } from '../../protocol/auth/index.ts'

// Every message of the local control API (CLI <-> daemon), in one module so that signatures (issue 7: every request
// that changes anything carries the operator's signature over the request, its id and its time) can be added in one
// place. A request is validated here, field by field, before the daemon looks at it: the socket is local and 0600, but
// the daemon runs as root and must not fall over on a malformed or hostile frame.

export const API_VERSION = 1
/** Bytes of one frame's JSON body; larger frames are refused and the connection closed. */
export const MAX_FRAME_BYTES = 16 * 1024 * 1024
/** Nesting bound for description values: deep enough for any real pool, shallow enough to never blow the stack. */
export const MAX_VALUE_DEPTH = 64

export type RequestId = number | string

/** The operator's signature over the request (protocol/auth's envelope); verified by node/api/auth-gate.ts. */
export type RequestAuth = RequestEnvelope

interface Base { id: RequestId, auth?: RequestAuth }

export interface PingRequest extends Base { op: 'ping' }
export interface DeployRequest extends Base {
  op: 'deploy'
  pool: string
  config: SfJsonObject
  /** Stream the pool's events and answer only when the pool is running (or the deploy failed). */
  wait: boolean
  /** `--at HOST`: the host the pool's root goes to (default: its own sfProcessHost, else this peer). */
  at?: string
}
/** `path`: one component and its children (absent or '' = the whole pool); signed with the rest of the body. */
export interface TerminateRequest extends Base { op: 'terminate', pool: string, type: 'normal' | 'abnormal', reason?: string, path?: string }
/** `local`: this host's engine pools only (each part of a mesh pool under its engine name), not the mesh's view. */
export interface StatusRequest extends Base { op: 'status', pool?: string, local?: boolean }
export interface GetRequest extends Base { op: 'get', pool: string, path: string, attr?: string }
export interface SetRequest extends Base { op: 'set', pool: string, path: string, attr: string, value: SfJson }
export interface LogsRequest extends Base { op: 'logs', pool: string, path: string, follow: boolean }
/** Streams every engine event (optionally of one pool) until cancelled. */
export interface EventsRequest extends Base { op: 'events', pool?: string }
/** Stops a streaming request of the same connection. */
export interface CancelRequest extends Base { op: 'cancel', target: RequestId }
/** The mesh's hosts as this peer sees them. */
export interface HostsRequest extends Base { op: 'hosts' }
/** Every pool of the mesh (this peer's replica of the pool registry) and this host's own pools. */
export interface LsRequest extends Base { op: 'ls' }
/** VMShop's attribute query over the VMs of every pool this peer can see (node/scheduler/query.ts's language). */
export interface QueryRequest extends Base { op: 'query', expr: string }
/** `sdpeer hosts forget`: drop, mesh-wide, the announcements of `host`'s claimants that are not alive, or of `peer`. */
export interface ForgetRequest extends Base { op: 'forget', host: string, peer?: string }

export type Request =
  | PingRequest | DeployRequest | TerminateRequest | StatusRequest | GetRequest | SetRequest | LogsRequest
  | EventsRequest | CancelRequest | HostsRequest | LsRequest | QueryRequest | ForgetRequest

export type Op = Request['op']
/** Requests that change something: issue 7 will require `auth` on these. */
export const MUTATING_OPS: readonly Op[] = ['deploy', 'terminate', 'set', 'forget']

export interface PingResult { host: string, driver: string, version: string, pid: number, api: number, peerId?: string }
export interface DeployAccepted { pool: string, accepted: true }
export interface GetResult { value: SfJson }
export interface LogsResult { lines: string[] }

/** One host of `sdpeer hosts`: its announcement joined with this peer's membership view. */
export interface HostEntry {
  peerId: string
  hostNames: string[]
  addrs: string[]
  state: 'alive' | 'suspect' | 'dead' | 'self' | 'unknown'
  capacity?: { memoryMb: number, vcpus: number }
  load?: { memoryMb: number, vcpus: number, domains: number }
  driver?: string
  version?: string
  /** Clock ms (wall) of the last announcement or membership change heard. */
  lastHeard?: number
  incarnation?: number
  misbehaviour: number
  /** Base images the host's warehouse holds (names and ids, from its announcement). */
  images?: string[]
  /** The host runs with --insecure (announced). */
  insecure?: boolean
}

export interface HostsResult {
  /** Absent when the daemon runs without a mesh. */
  self?: { peerId: string, host: string, addrs: string[], insecure: boolean, poolKey?: string }
  hosts: HostEntry[]
  /** Host names claimed by more than one peer. */
  conflicts: Array<{ host: string, peers: string[] }>
}

export interface LsEntry {
  pool: string
  state: string
  /** The peer that took the deploy, and its host name when known. */
  entry: string
  entryHost?: string
  /** Hosts holding its parts, in definition order, without repeats. */
  hosts: string[]
  parts: number
  /** 'mesh': in the pool registry; 'local': deployed on this host alone, outside the registry. */
  scope: 'mesh' | 'local'
  reason?: string
}

/** What each op answers in its final `result` frame. */
export interface ResultOf {
  ping: PingResult
  deploy: PoolStatus | DeployAccepted
  terminate: PoolStatus
  status: PoolStatus[]
  get: GetResult
  set: Record<string, never>
  logs: LogsResult
  events: Record<string, never>
  cancel: Record<string, never>
  hosts: HostsResult
  ls: LsEntry[]
  query: { vms: VmQueryRecord[] }
  forget: ForgetOutcome
}

/** Streamed before the final frame: engine events for `deploy --wait` and `events`, log lines for `logs --follow`. */
export type StreamItem = { kind: 'event', event: EngineEvent } | { kind: 'log', line: string }

export interface WireError {
  /** The error class's stable name (EngineError, ApiRequestError...). */
  name: string
  message: string
  pool?: string
  path?: string
  /** The request field an ApiRequestError is about. */
  field?: string
}

export type Response =
  | { id: RequestId | null, type: 'result', result: unknown }
  | { id: RequestId | null, type: 'error', error: WireError }
  | { id: RequestId, type: 'stream', item: StreamItem }

/** A request the daemon refuses before acting: names the field that is wrong. */
export class ApiRequestError extends Error {
  override readonly name = 'ApiRequestError'
  readonly field: string | undefined
  constructor (message: string, field?: string) {
    super(field ? `${field}: ${message}` : message)
    this.field = field
  }
}

// Pool names become directory names in the state dir and parts of domain names: a conservative alphabet.
const POOL = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/
// Attribute names as the .sf lexer accepts them; `$` names are ours and never attributes.
const ATTR = /^[A-Za-z_][A-Za-z0-9_-]{0,127}$/
const ID_STRING = /^[\x21-\x7e]{1,64}$/
// sfProcessHost's "either a hostname or an ip address" (RFC 1123 labels; a dotted IPv4 address fits too).
const HOST = /^(?=.{1,253}$)[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/

// A libp2p peer id as text (base58btc, as `sdpeer hosts --json` prints it).
const PEER_ID = /^[1-9A-HJ-NP-Za-km-z]{1,128}$/

type Obj = Record<string, unknown>

function isObj (v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

function field (o: Obj, name: string, kind: 'string' | 'boolean' | 'number', optional = false): unknown {
  const v = o[name]
  if (v === undefined) {
    if (optional) return undefined
    throw new ApiRequestError('is required', name)
  }
  if (typeof v !== kind) throw new ApiRequestError(`must be a ${kind}`, name)
  return v
}

export function checkPoolName (v: unknown, name = 'pool'): string {
  if (typeof v !== 'string') throw new ApiRequestError('must be a string', name)
  if (!POOL.test(v)) throw new ApiRequestError(`${JSON.stringify(v.slice(0, 80))} is not a pool name (letters, digits, "_.-", at most 64, not starting with a sign)`, name)
  return v
}

/** A component path below the pool's root: `""` is the root, `computer1:domain1` a grandchild. */
export function checkComponentPath (v: unknown, name = 'path'): string {
  if (typeof v !== 'string') throw new ApiRequestError('must be a string', name)
  if (v === '') return v
  const parts = v.split(':')
  if (parts.length > MAX_VALUE_DEPTH) throw new ApiRequestError('is too deep', name)
  for (const p of parts) {
    if (!ATTR.test(p)) throw new ApiRequestError(`${JSON.stringify(v.slice(0, 200))} is not a component path (attribute names separated by ":")`, name)
  }
  return v
}

export function checkAttrName (v: unknown, name = 'attr'): string {
  if (typeof v !== 'string') throw new ApiRequestError('must be a string', name)
  if (!ATTR.test(v)) throw new ApiRequestError(`${JSON.stringify(v.slice(0, 200))} is not an attribute name`, name)
  return v
}

/**
 * Checks that a value is plain SfJson, without prototype tricks and within the depth bound. Walks iteratively so a
 * hostile 100,000-deep array cannot overflow the stack (JSON.parse itself accepts it).
 */
export function checkSfJson (v: unknown, name: string): SfJson {
  const stack: Array<{ value: unknown, depth: number }> = [{ value: v, depth: 0 }]
  while (stack.length > 0) {
    const { value, depth } = stack.pop()!
    if (value === null || typeof value === 'string' || typeof value === 'boolean') continue
    if (typeof value === 'number') {
      if (!Number.isFinite(value)) throw new ApiRequestError('numbers must be finite', name)
      continue
    }
    if (depth >= MAX_VALUE_DEPTH) throw new ApiRequestError(`nests deeper than ${MAX_VALUE_DEPTH}`, name)
    if (Array.isArray(value)) {
      for (const x of value) stack.push({ value: x, depth: depth + 1 })
      continue
    }
    if (isObj(value) && Object.getPrototypeOf(value) === Object.prototype) {
      for (const [k, x] of Object.entries(value)) {
        if (k === '__proto__') throw new ApiRequestError('"__proto__" is not an attribute name', name)
        stack.push({ value: x, depth: depth + 1 })
      }
      continue
    }
    throw new ApiRequestError(`holds a ${typeof value}, not a description value`, name)
  }
  return v as SfJson
}

function checkId (v: unknown): RequestId {
  if (typeof v === 'number' && Number.isSafeInteger(v) && v >= 0) return v
  if (typeof v === 'string' && ID_STRING.test(v)) return v
  throw new ApiRequestError('must be a non-negative integer or a short printable string', 'id')
}

function checkAuth (v: unknown): RequestAuth | undefined {
  if (v === undefined) return undefined
  // Shape only (fields, sizes, formats); whether it verifies is the auth gate's business.
  try {
    return parseEnvelope(v)
  } catch (err) {
    throw new ApiRequestError(err instanceof AuthError ? err.message : 'is not an operator signature', 'auth')
  }
}

/** The request id of a frame, if it has a usable one: lets the daemon answer an invalid request by its id. */
export function requestIdOf (raw: unknown): RequestId | null {
  if (!isObj(raw)) return null
  try { return checkId(raw.id) } catch { return null }
}

/** Validates a decoded frame into a Request; throws ApiRequestError naming the first wrong field. */
export function parseRequest (raw: unknown): Request {
  if (!isObj(raw)) throw new ApiRequestError('a request is a JSON object')
  const id = checkId(raw.id)
  const auth = checkAuth(raw.auth)
  const op = raw.op
  const base = auth ? { id, auth } : { id }
  switch (op) {
    case 'ping':
      return { ...base, op }
    case 'deploy': {
      const pool = checkPoolName(raw.pool)
      const config = checkSfJson(raw.config, 'config')
      if (!isObj(config)) throw new ApiRequestError('must be the resolved sfConfig object', 'config')
      const wait = (field(raw, 'wait', 'boolean', true) as boolean | undefined) ?? false
      const at = field(raw, 'at', 'string', true) as string | undefined
      if (at !== undefined && !HOST.test(at)) throw new ApiRequestError(`${JSON.stringify(at.slice(0, 80))} is not a host name or address`, 'at')
      return at === undefined ? { ...base, op, pool, config: config as SfJsonObject, wait } : { ...base, op, pool, config: config as SfJsonObject, wait, at }
    }
    case 'terminate': {
      const pool = checkPoolName(raw.pool)
      const type = raw.type ?? 'normal'
      if (type !== 'normal' && type !== 'abnormal') throw new ApiRequestError('must be "normal" or "abnormal"', 'type')
      const reason = field(raw, 'reason', 'string', true) as string | undefined
      if (reason !== undefined && reason.length > 4096) throw new ApiRequestError('is longer than 4096', 'reason')
      // Kept exactly as sent (even ''): the operator's signature covers the body as the client built it.
      const path = raw.path === undefined ? {} : { path: checkComponentPath(raw.path) }
      return reason === undefined ? { ...base, op, pool, type, ...path } : { ...base, op, pool, type, reason, ...path }
    }
    case 'status': {
      const local = field(raw, 'local', 'boolean', true) as boolean | undefined
      const l = local === true ? { local } : {}
      if (raw.pool === undefined) return { ...base, op, ...l }
      return { ...base, op, pool: checkPoolName(raw.pool), ...l }
    }
    case 'get': {
      const pool = checkPoolName(raw.pool)
      const path = checkComponentPath(raw.path)
      if (raw.attr === undefined) return { ...base, op, pool, path }
      return { ...base, op, pool, path, attr: checkAttrName(raw.attr) }
    }
    case 'set': {
      const pool = checkPoolName(raw.pool)
      const path = checkComponentPath(raw.path)
      const attr = checkAttrName(raw.attr)
      if (!('value' in raw)) throw new ApiRequestError('is required', 'value')
      return { ...base, op, pool, path, attr, value: checkSfJson(raw.value, 'value') }
    }
    case 'logs': {
      const pool = checkPoolName(raw.pool)
      const path = checkComponentPath(raw.path)
      const follow = (field(raw, 'follow', 'boolean', true) as boolean | undefined) ?? false
      return { ...base, op, pool, path, follow }
    }
    case 'events': {
      if (raw.pool === undefined) return { ...base, op }
      return { ...base, op, pool: checkPoolName(raw.pool) }
    }
    case 'cancel':
      return { ...base, op, target: checkId(raw.target) }
    case 'hosts':
    case 'ls':
      return { ...base, op }
    case 'query': {
      const expr = field(raw, 'expr', 'string') as string
      if (expr.length === 0 || expr.length > 4096) throw new ApiRequestError('must be 1 to 4096 characters', 'expr')
      return { ...base, op, expr }
    }
    case 'forget': {
      const host = field(raw, 'host', 'string') as string
      if (!HOST.test(host)) throw new ApiRequestError(`${JSON.stringify(host.slice(0, 80))} is not a host name`, 'host')
      const peer = field(raw, 'peer', 'string', true) as string | undefined
      if (peer !== undefined && !PEER_ID.test(peer)) throw new ApiRequestError(`${JSON.stringify(peer.slice(0, 80))} is not a peer id`, 'peer')
      return peer === undefined ? { ...base, op, host } : { ...base, op, host, peer }
    }
    default:
      throw new ApiRequestError(`unknown operation ${typeof op === 'string' ? JSON.stringify(op.slice(0, 40)) : `of type ${Array.isArray(op) ? 'array' : op === null ? 'null' : typeof op}`}`, 'op')
  }
}

/** Turns any thrown value into the error frame's body, keeping the class's stable name and its pool/path. */
export function toWireError (err: unknown): WireError {
  if (err instanceof Error) {
    const e = err as Error & { pool?: unknown, path?: unknown, field?: unknown }
    const out: WireError = { name: e.name, message: e.message }
    if (typeof e.pool === 'string') out.pool = e.pool
    if (typeof e.path === 'string') out.path = e.path
    if (typeof e.field === 'string') out.field = e.field
    return out
  }
  return { name: 'Error', message: String(err) }
}
