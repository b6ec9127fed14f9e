import { ProtocolValidationError } from './errors.ts'
import { MAX_ANNOUNCEMENT_BYTES, MAX_ID_LENGTH, MAX_MEMBERS_PER_SYNC } from './limits.ts'
import { arr, int, jsonBytes, obj, onlyKeys, parseJsonBytes, str } from './validate.ts'

// Anti-entropy of the host directory, peer to peer, so that a host directory is complete whether or not gossipsub
// delivered every announcement (with few peers its mesh forms late, and a peer that joined after a publication
// never sees it). Two exchanges on their own streams:
//   digest: "my directory hashes to D" → "same", or the responder's version of every entry (peer, epoch, seq);
//   get:    "send me these peers' announcements" → their signed announcements, verified by the receiver as if
//           they came by gossip (a relayed copy verifies anywhere: the signature is the announcer's).
// In steady state a sync is one small request and a 2-byte answer.

/** A directory's versions, hashed (hex): equal digests mean equal directories, and nothing more is sent. */
export interface DigestRequest { digest: string }
/** One entry's version: [peerId, epoch, seq]. */
export type EntryVersion = [string, number, number]
export type DigestResponse = { same: true } | { same: false, versions: EntryVersion[] }

export interface GetRequest { peers: string[] }

/** Announcements asked for in one get request; a larger gap is closed over several syncs. */
export const MAX_GET_PEERS = 64
export const MAX_DIGEST_REQUEST_BYTES = 256
/** ~70 bytes an entry: room for MAX_MEMBERS_PER_SYNC entries. */
export const MAX_DIGEST_RESPONSE_BYTES = MAX_MEMBERS_PER_SYNC * (MAX_ID_LENGTH + 48)
export const MAX_GET_REQUEST_BYTES = MAX_GET_PEERS * (MAX_ID_LENGTH + 4) + 32
export const MAX_GET_RESPONSE_BYTES = MAX_GET_PEERS * (MAX_ANNOUNCEMENT_BYTES + 2) + 2

export function encodeDigestRequest (r: DigestRequest): Uint8Array { return jsonBytes({ digest: r.digest }) }

export function decodeDigestRequest (bytes: Uint8Array): DigestRequest {
  const o = obj(parseJsonBytes(bytes, MAX_DIGEST_REQUEST_BYTES), '')
  onlyKeys(o, '', ['digest'])
  const digest = str(o.digest, 'digest', 64)
  if (!/^[0-9a-f]+$/.test(digest)) throw new ProtocolValidationError('digest', 'expected lower-case hex')
  return { digest }
}

export function encodeDigestResponse (r: DigestResponse): Uint8Array {
  return jsonBytes(r.same ? { same: true } : { same: false, versions: r.versions })
}

export function decodeDigestResponse (bytes: Uint8Array): DigestResponse {
  const o = obj(parseJsonBytes(bytes, MAX_DIGEST_RESPONSE_BYTES), '')
  if (o.same === true) { onlyKeys(o, '', ['same']); return { same: true } }
  onlyKeys(o, '', ['same', 'versions'])
  if (o.same !== false) throw new ProtocolValidationError('same', 'expected a boolean')
  const versions = arr(o.versions, 'versions', MAX_MEMBERS_PER_SYNC).map((v, i): EntryVersion => {
    const t = arr(v, `versions[${i}]`, 3)
    if (t.length !== 3) throw new ProtocolValidationError(`versions[${i}]`, 'expected [peerId, epoch, seq]')
    return [str(t[0], `versions[${i}][0]`, MAX_ID_LENGTH), int(t[1], `versions[${i}][1]`), int(t[2], `versions[${i}][2]`)]
  })
  return { same: false, versions }
}

export function encodeGetRequest (r: GetRequest): Uint8Array { return jsonBytes({ peers: r.peers }) }

export function decodeGetRequest (bytes: Uint8Array): GetRequest {
  const o = obj(parseJsonBytes(bytes, MAX_GET_REQUEST_BYTES), '')
  onlyKeys(o, '', ['peers'])
  return { peers: arr(o.peers, 'peers', MAX_GET_PEERS).map((p, i) => str(p, `peers[${i}]`, MAX_ID_LENGTH)) }
}

/** Wire form of a get response: 2-byte count, then each signed announcement with a 2-byte length. */
export function encodeGetResponse (announcements: Uint8Array[]): Uint8Array {
  const list = announcements.slice(0, MAX_GET_PEERS)
  const out = new Uint8Array(2 + list.reduce((s, a) => s + 2 + a.byteLength, 0))
  const view = new DataView(out.buffer)
  view.setUint16(0, list.length)
  let at = 2
  for (const a of list) {
    if (a.byteLength > MAX_ANNOUNCEMENT_BYTES) throw new ProtocolValidationError('', `announcement of ${a.byteLength} bytes exceeds the limit`)
    view.setUint16(at, a.byteLength)
    out.set(a, at + 2)
    at += 2 + a.byteLength
  }
  return out
}

export function decodeGetResponse (bytes: Uint8Array): Uint8Array[] {
  if (bytes.byteLength > MAX_GET_RESPONSE_BYTES) throw new ProtocolValidationError('', `${bytes.byteLength} bytes exceeds the limit of ${MAX_GET_RESPONSE_BYTES}`)
  if (bytes.byteLength < 2) throw new ProtocolValidationError('', 'truncated')
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const count = view.getUint16(0)
  if (count > MAX_GET_PEERS) throw new ProtocolValidationError('', `${count} announcements, at most ${MAX_GET_PEERS}`)
  const out: Uint8Array[] = []
  let at = 2
  for (let i = 0; i < count; i++) {
    if (at + 2 > bytes.byteLength) throw new ProtocolValidationError(`[${i}]`, 'truncated')
    const len = view.getUint16(at)
    if (len > MAX_ANNOUNCEMENT_BYTES || at + 2 + len > bytes.byteLength) throw new ProtocolValidationError(`[${i}]`, 'truncated or oversized')
    out.push(bytes.subarray(at + 2, at + 2 + len))
    at += 2 + len
  }
  if (at !== bytes.byteLength) throw new ProtocolValidationError('', 'trailing bytes')
  return out
}
