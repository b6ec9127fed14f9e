// Host views from outside the process: `sdpeer estimate --hosts-file F` (and, once the control API serves it, the
// answer of op `hosts`) in the shape a mesh node's hosts() returns, plus the two things the mesh announcement does
// not carry yet: cached base images and host attributes. Validated field by field: the file is user input.

import type { AttrValue } from './types.ts'
import type { MeshHostView } from './assign.ts'

export class HostViewsError extends Error {
  override readonly name = 'HostViewsError'
  /** Where in the input, e.g. "[2].capacity.memoryMb". */
  readonly at: string
  readonly source: string
  constructor (source: string, at: string, message: string) {
    super(`${source}: ${at}: ${message}`)
    this.source = source
    this.at = at
  }
}

export interface HostViewInput extends MeshHostView {
  images?: string[]
  attributes?: Record<string, AttrValue>
}

const STATES = new Set(['self', 'alive', 'suspect', 'dead', 'unknown'])

/**
 * Reads `[{ hostNames | host, state?, capacity: {memoryMb, vcpus}, load?: {memoryMb, vcpus, domains}, driver?,
 * images?, attributes? }]` (or `{ "hosts": [...] }`, what the control API's op `hosts` answers). A host without
 * `state` is taken as alive. Entries with no host name or no capacity (a member whose announcement has not arrived)
 * are left out: nothing can be placed on them. Malformed values are errors.
 */
export function parseHostViews (json: unknown, source = 'hosts'): HostViewInput[] {
  const list = Array.isArray(json) ? json : typeof json === 'object' && json !== null && Array.isArray((json as { hosts?: unknown }).hosts) ? (json as { hosts: unknown[] }).hosts : undefined
  if (list === undefined) throw new HostViewsError(source, '$', 'expected an array of hosts (or {"hosts": [...]})')
  return list.flatMap((raw, i) => {
    const o = raw as Record<string, unknown> | null
    const unnamed = typeof o === 'object' && o !== null && Array.isArray(o.hostNames) && o.hostNames.length === 0 && o.host === undefined
    if (unnamed || (typeof o === 'object' && o !== null && o.capacity === undefined)) return []
    return [one(raw, `[${i}]`, source)]
  })
}

function one (raw: unknown, at: string, source: string): HostViewInput {
  const fail = (where: string, msg: string): never => { throw new HostViewsError(source, `${at}${where}`, msg) }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return fail('', 'expected an object')
  const o = raw as Record<string, unknown>
  const names = o.hostNames ?? (o.host !== undefined ? [o.host] : undefined)
  if (!Array.isArray(names) || names.length === 0 || names.some(n => typeof n !== 'string' || n === '')) return fail('.hostNames', 'expected a non-empty array of host names (or "host")')
  const num = (v: unknown, where: string): number => typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : fail(where, 'expected a non-negative number')
  const cap = o.capacity as Record<string, unknown> | undefined
  if (typeof cap !== 'object' || cap === null) return fail('.capacity', 'expected {"memoryMb", "vcpus"}')
  const load = (o.load ?? { memoryMb: 0, vcpus: 0, domains: 0 }) as Record<string, unknown>
  if (typeof load !== 'object' || load === null) return fail('.load', 'expected {"memoryMb", "vcpus", "domains"}')
  const state = o.state ?? 'alive'
  if (typeof state !== 'string' || !STATES.has(state)) return fail('.state', `expected one of ${[...STATES].join(', ')}`)
  if (o.driver !== undefined && typeof o.driver !== 'string') return fail('.driver', 'expected a string')
  const images = o.images
  if (images !== undefined && (!Array.isArray(images) || images.some(x => typeof x !== 'string'))) return fail('.images', 'expected an array of image names')
  const attributes = o.attributes
  if (attributes !== undefined && (typeof attributes !== 'object' || attributes === null || Array.isArray(attributes) ||
    Object.values(attributes).some(v => !['string', 'number', 'boolean'].includes(typeof v)))) return fail('.attributes', 'expected an object of strings, numbers and booleans')
  return {
    peerId: typeof o.peerId === 'string' ? o.peerId : names[0] as string,
    hostNames: names as string[],
    addrs: [],
    state: state as MeshHostView['state'],
    capacity: { memoryMb: num(cap.memoryMb, '.capacity.memoryMb'), vcpus: num(cap.vcpus, '.capacity.vcpus') },
    load: { memoryMb: num(load.memoryMb ?? 0, '.load.memoryMb'), vcpus: num(load.vcpus ?? 0, '.load.vcpus'), domains: num(load.domains ?? 0, '.load.domains') },
    ...(typeof o.driver === 'string' ? { driver: o.driver } : {}),
    misbehaviour: 0,
    ...(images !== undefined ? { images: images as string[] } : {}),
    ...(attributes !== undefined ? { attributes: attributes as Record<string, AttrValue> } : {})
  }
}
