import { MAX_ADDRS, MAX_ADDR_LENGTH, MAX_ID_LENGTH, MAX_MEMBERS_PER_SYNC, MAX_MEMBERSHIP_MESSAGE_BYTES, MAX_PUSH_PULL_BYTES, MAX_UPDATES_PER_MESSAGE } from './limits.ts'
import { MessageTooLargeError } from './errors.ts'
import { arr, bool, int, jsonBytes, obj, oneOf, onlyKeys, parseJsonBytes, str, strs } from './validate.ts'
import type { Obj } from './validate.ts'

// Wire messages of the membership protocol (SWIM + Lifeguard). Direct probes are not messages: they are the
// transport's probe (libp2p ping in the daemon). These carry indirect probes, gossip and state sync.

export type MemberStatus = 'alive' | 'suspect' | 'dead'
export const MEMBER_STATUSES: readonly MemberStatus[] = ['alive', 'suspect', 'dead']

/** One piece of gossip about a member. `from` names who suspected or declared it dead (a leave when from === id). */
export interface MemberUpdate {
  status: MemberStatus
  id: string
  inc: number
  addrs?: string[]
  from?: string
}

/** Asks the receiver to probe `target` on our behalf and answer with an IndirectAck of the same seq. */
export interface PingReq { type: 'ping-req', seq: number, target: string, targetAddrs: string[], updates: MemberUpdate[] }
/** Answer to a PingReq: ok when the target answered; ok false is Lifeguard's nack (the relay itself is alive). */
export interface IndirectAck { type: 'ind-ack', seq: number, target: string, ok: boolean, updates: MemberUpdate[] }
/** Gossip alone, sent on the gossip tick to a few random members. */
export interface Gossip { type: 'gossip', updates: MemberUpdate[] }
/** Full state sync: `reply` false asks the receiver to answer with its own state. */
export interface PushPull { type: 'push-pull', join: boolean, reply: boolean, members: MemberUpdate[] }

export type MembershipMessage = PingReq | IndirectAck | Gossip | PushPull

export function validateUpdate (v: unknown, path: string): MemberUpdate {
  const o = obj(v, path)
  onlyKeys(o, path, ['status', 'id', 'inc', 'addrs', 'from'])
  const u: MemberUpdate = {
    status: oneOf(o.status, `${path}.status`, MEMBER_STATUSES),
    id: str(o.id, `${path}.id`, MAX_ID_LENGTH),
    inc: int(o.inc, `${path}.inc`, 0, 2 ** 32)
  }
  if (o.addrs !== undefined) u.addrs = strs(o.addrs, `${path}.addrs`, MAX_ADDRS, MAX_ADDR_LENGTH)
  if (o.from !== undefined) u.from = str(o.from, `${path}.from`, MAX_ID_LENGTH)
  return u
}

function updates (o: Obj, key: string, max: number): MemberUpdate[] {
  return arr(o[key], key, max).map((u, i) => validateUpdate(u, `${key}[${i}]`))
}

/** Validates a decoded value as a membership message; throws ProtocolValidationError with the failing path. */
export function validateMembershipMessage (v: unknown): MembershipMessage {
  const o = obj(v, '')
  const type = oneOf(o.type, 'type', ['ping-req', 'ind-ack', 'gossip', 'push-pull'] as const)
  switch (type) {
    case 'ping-req':
      onlyKeys(o, '', ['type', 'seq', 'target', 'targetAddrs', 'updates'])
      return {
        type,
        seq: int(o.seq, 'seq'),
        target: str(o.target, 'target', MAX_ID_LENGTH),
        targetAddrs: strs(o.targetAddrs, 'targetAddrs', MAX_ADDRS, MAX_ADDR_LENGTH),
        updates: updates(o, 'updates', MAX_UPDATES_PER_MESSAGE)
      }
    case 'ind-ack':
      onlyKeys(o, '', ['type', 'seq', 'target', 'ok', 'updates'])
      return {
        type,
        seq: int(o.seq, 'seq'),
        target: str(o.target, 'target', MAX_ID_LENGTH),
        ok: bool(o.ok, 'ok'),
        updates: updates(o, 'updates', MAX_UPDATES_PER_MESSAGE)
      }
    case 'gossip':
      onlyKeys(o, '', ['type', 'updates'])
      return { type, updates: updates(o, 'updates', MAX_UPDATES_PER_MESSAGE) }
    case 'push-pull':
      onlyKeys(o, '', ['type', 'join', 'reply', 'members'])
      return { type, join: bool(o.join, 'join'), reply: bool(o.reply, 'reply'), members: updates(o, 'members', MAX_MEMBERS_PER_SYNC) }
  }
}

export function encodeMembershipMessage (m: MembershipMessage): Uint8Array {
  return jsonBytes(m)
}

/** The bound a message of this kind may not exceed; push-pull carries the whole member list. */
export function membershipLimit (m: MembershipMessage | { type: string }): number {
  return m.type === 'push-pull' ? MAX_PUSH_PULL_BYTES : MAX_MEMBERSHIP_MESSAGE_BYTES
}

/** Decodes and validates; a message other than a state sync over the small bound is refused as too large. */
export function decodeMembershipMessage (bytes: Uint8Array, options: { peer?: string } = {}): MembershipMessage {
  if (bytes.byteLength > MAX_PUSH_PULL_BYTES) throw new MessageTooLargeError(bytes.byteLength, MAX_PUSH_PULL_BYTES, options)
  const m = validateMembershipMessage(parseJsonBytes(bytes, MAX_PUSH_PULL_BYTES))
  const limit = membershipLimit(m)
  if (bytes.byteLength > limit) throw new MessageTooLargeError(bytes.byteLength, limit, options)
  return m
}

/** Length of JSON.stringify(v) for plain data, computed without building the string; NaN if not plain ASCII. */
function jsonSize (v: unknown): number {
  switch (typeof v) {
    case 'string': {
      let n = v.length + 2
      for (let i = 0; i < v.length; i++) {
        const c = v.charCodeAt(i)
        if (c === 0x22 || c === 0x5c) n++
        else if (c < 0x20 || c > 0x7e) return NaN
      }
      return n
    }
    case 'number': return String(v).length
    case 'boolean': return v ? 4 : 5
    case 'object': {
      if (v === null) return 4
      if (Array.isArray(v)) {
        let n = 2 + Math.max(0, v.length - 1)
        for (const x of v) n += jsonSize(x)
        return n
      }
      let n = 2; let count = 0
      for (const [k, x] of Object.entries(v)) {
        if (x === undefined) continue
        n += jsonSize(k) + 1 + jsonSize(x)
        count++
      }
      return n + Math.max(0, count - 1)
    }
    default: return NaN
  }
}

function updateSize (u: MemberUpdate): number {
  // {"status":S,"id":I,"inc":N[,"addrs":[...]][,"from":F]}
  let n = 2 + 9 + jsonSize(u.status) + 1 + 5 + jsonSize(u.id) + 1 + 6 + String(u.inc).length
  if (u.addrs !== undefined) {
    n += 1 + 8 + 2 + Math.max(0, u.addrs.length - 1)
    for (const a of u.addrs) n += jsonSize(a)
  }
  if (u.from !== undefined) n += 1 + 7 + jsonSize(u.from)
  return n
}

/**
 * Encoded size of a message, computed without encoding it (simulations count the bytes of millions of
 * messages). Equal to encodeMembershipMessage(m).byteLength (tested); falls back to encoding for non-ASCII.
 */
export function membershipMessageSize (m: MembershipMessage): number {
  // The update lists are most of the bytes: sized by a specialised function, the envelope generically.
  const list = m.type === 'push-pull' ? m.members : m.updates
  const envelope = m.type === 'push-pull' ? { ...m, members: [] } : { ...m, updates: [] }
  let n = jsonSize(envelope) - 2 + 2 + Math.max(0, list.length - 1)
  for (const u of list) n += updateSize(u)
  return Number.isNaN(n) ? encodeMembershipMessage(m).byteLength : n
}
