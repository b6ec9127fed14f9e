import { ProtocolValidationError } from './errors.ts'
import { IMAGE_ENTRY } from './image-names.ts'
import { MAX_ADDRS, MAX_ADDR_LENGTH, MAX_ANNOUNCED_IMAGES, MAX_ANNOUNCEMENT_BYTES, MAX_HOST_NAMES, MAX_HOST_NAME_LENGTH, MAX_ID_LENGTH } from './limits.ts'
import { bool, int, jsonBytes, num, obj, onlyKeys, parseJsonBytes, str, strs } from './validate.ts'

// A host announcement: who a peer is (host names, addresses), what it offers (capacity, load, driver) and a version
// counter, signed by the peer's own key. The signature covers the exact payload bytes, so a relayed copy verifies
// wherever it arrives; verification itself (key from the peer id) lives in node/mesh/directory.ts.

export interface HostCapacity { memoryMb: number, vcpus: number }
export interface HostLoad { memoryMb: number, vcpus: number, domains: number }

export interface HostAnnouncement {
  peerId: string
  hostNames: string[]
  /** Multiaddrs the peer listens on. */
  addrs: string[]
  capacity: HostCapacity
  load: HostLoad
  driver: string
  version: string
  /** Wall-clock ms when this process started: a restarted peer's announcements supersede the old ones. */
  epoch: number
  /** Incremented on each change within one epoch. */
  seq: number
  /** Base images this host holds in its warehouse (names and ids): the scheduler's "cached base image". */
  images?: string[]
  /** Started with --insecure (no pool key or trust store): shown by `sdpeer hosts` on every peer. */
  insecure?: boolean
}


/** The wire form: payload bytes (canonical JSON of a HostAnnouncement) and an Ed25519 signature over them. */
export interface SignedAnnouncement { payload: Uint8Array, signature: Uint8Array }

const HOST_NAME = /^(?=.{1,253}$)([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)(\.[a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)*\.?$/

/** RFC 1123 host name (labels of letters, digits and inner hyphens); what sfProcessHost may name. */
export function isValidHostName (name: string): boolean {
  return name.length <= MAX_HOST_NAME_LENGTH && HOST_NAME.test(name)
}

function capacity (v: unknown, path: string): HostCapacity {
  const o = obj(v, path)
  onlyKeys(o, path, ['memoryMb', 'vcpus'])
  return { memoryMb: num(o.memoryMb, `${path}.memoryMb`, 0, 2 ** 40), vcpus: num(o.vcpus, `${path}.vcpus`, 0, 1e6) }
}

export function validateAnnouncement (v: unknown): HostAnnouncement {
  const o = obj(v, '')
  onlyKeys(o, '', ['peerId', 'hostNames', 'addrs', 'capacity', 'load', 'driver', 'version', 'epoch', 'seq', 'images', 'insecure'])
  const hostNames = strs(o.hostNames, 'hostNames', MAX_HOST_NAMES, MAX_HOST_NAME_LENGTH)
  hostNames.forEach((h, i) => { if (!isValidHostName(h)) throw new ProtocolValidationError(`hostNames[${i}]`, `"${h}" is not a valid host name`) })
  const load = obj(o.load, 'load')
  onlyKeys(load, 'load', ['memoryMb', 'vcpus', 'domains'])
  const images = o.images === undefined ? undefined : strs(o.images, 'images', MAX_ANNOUNCED_IMAGES, 128)
  images?.forEach((e, i) => { if (!IMAGE_ENTRY.test(e)) throw new ProtocolValidationError(`images[${i}]`, 'not an image name or id') })
  const insecure = o.insecure === undefined ? undefined : bool(o.insecure, 'insecure')
  return {
    peerId: str(o.peerId, 'peerId', MAX_ID_LENGTH),
    hostNames,
    addrs: strs(o.addrs, 'addrs', MAX_ADDRS, MAX_ADDR_LENGTH),
    capacity: capacity(o.capacity, 'capacity'),
    load: {
      memoryMb: num(load.memoryMb, 'load.memoryMb', 0, 2 ** 40),
      vcpus: num(load.vcpus, 'load.vcpus', 0, 1e6),
      domains: int(load.domains, 'load.domains', 0, 1e6)
    },
    driver: str(o.driver, 'driver', 32),
    version: str(o.version, 'version', 64),
    epoch: int(o.epoch, 'epoch'),
    seq: int(o.seq, 'seq'),
    ...(images !== undefined ? { images } : {}),
    ...(insecure !== undefined ? { insecure } : {})
  }
}

/** Canonical payload bytes: fixed key order, so the signer and every verifier hash the same bytes. */
export function encodeAnnouncementPayload (a: HostAnnouncement): Uint8Array {
  return jsonBytes({
    peerId: a.peerId,
    hostNames: a.hostNames,
    addrs: a.addrs,
    capacity: { memoryMb: a.capacity.memoryMb, vcpus: a.capacity.vcpus },
    load: { memoryMb: a.load.memoryMb, vcpus: a.load.vcpus, domains: a.load.domains },
    driver: a.driver,
    version: a.version,
    epoch: a.epoch,
    seq: a.seq,
    // Optional fields last and only when present: an announcement without them keeps its earlier bytes.
    ...(a.images !== undefined ? { images: a.images } : {}),
    ...(a.insecure !== undefined ? { insecure: a.insecure } : {})
  })
}

export function decodeAnnouncementPayload (bytes: Uint8Array): HostAnnouncement {
  return validateAnnouncement(parseJsonBytes(bytes, MAX_ANNOUNCEMENT_BYTES, 'payload'))
}

/** Wire frame: 2-byte big-endian payload length, payload, signature (64 bytes for Ed25519). */
export function encodeSignedAnnouncement (s: SignedAnnouncement): Uint8Array {
  const out = new Uint8Array(2 + s.payload.byteLength + s.signature.byteLength)
  new DataView(out.buffer).setUint16(0, s.payload.byteLength)
  out.set(s.payload, 2)
  out.set(s.signature, 2 + s.payload.byteLength)
  return out
}

export function decodeSignedAnnouncement (bytes: Uint8Array): SignedAnnouncement {
  if (bytes.byteLength > MAX_ANNOUNCEMENT_BYTES) throw new ProtocolValidationError('', `${bytes.byteLength} bytes exceeds the limit of ${MAX_ANNOUNCEMENT_BYTES}`)
  if (bytes.byteLength < 2) throw new ProtocolValidationError('', 'truncated announcement')
  const len = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength).getUint16(0)
  const signature = bytes.subarray(2 + len)
  if (2 + len > bytes.byteLength || signature.byteLength !== 64) throw new ProtocolValidationError('signature', 'missing or not 64 bytes')
  return { payload: bytes.subarray(2, 2 + len), signature }
}
