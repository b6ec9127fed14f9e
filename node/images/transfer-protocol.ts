import { ProtocolValidationError } from '../../protocol/errors.ts'
import type { RpcCodec, RpcProtocolSpec } from '../mesh/rpc.ts'
import { parseRecord } from './warehouse.ts'
import type { ImageRecord } from './warehouse.ts'

// The wire of image transfer: two request/response protocols over the mesh's rpc streams, `info` (a peer's record
// of an image, by id or name) and `manifest` (its chunk hashes); chunk bytes go on IMAGE_CHUNK_PROTOCOL, a raw
// stream protocol that answers a batch of chunks (chunk-stream.ts).
// A record is checked (its id must follow from its parameters or content) before it is believed; chunk bytes are
// checked by the fetcher against the manifest, which is checked against the record.

export const IMAGE_INFO_PROTOCOL = '/sdpeer/image/info/1.0.0'
export const IMAGE_MANIFEST_PROTOCOL = '/sdpeer/image/manifest/1.0.0'
export const IMAGE_CHUNK_PROTOCOL = '/sdpeer/image/1.0.0'

/** 256 Ki chunks of 1 MiB: images up to 256 GiB. */
export const MAX_MANIFEST_BYTES = 8 * 1024 * 1024
export const MAX_CHUNK_BYTES = 16 * 1024 * 1024
const MAX_RECORD_BYTES = 64 * 1024
const MAX_REF = 160

const enc = new TextEncoder()
const dec = new TextDecoder()

function jsonCodec<T> (maxBytes: number, check: (v: unknown) => T): RpcCodec<T> {
  return {
    maxBytes,
    encode: (v) => enc.encode(JSON.stringify(v)),
    decode: (b) => {
      let v: unknown
      try { v = JSON.parse(dec.decode(b)) } catch { throw new ProtocolValidationError('', 'not JSON') }
      return check(v)
    }
  }
}

const bytesCodec = (maxBytes: number): RpcCodec<Uint8Array> => ({ maxBytes, encode: b => b, decode: b => b })

function checkRef (v: unknown, path: string): string {
  if (typeof v !== 'string' || v.length === 0 || v.length > MAX_REF) throw new ProtocolValidationError(path, 'expected an image id or name')
  return v
}

function checkId (v: unknown, path: string): string {
  if (typeof v !== 'string' || !/^[0-9a-f]{64}$/.test(v)) throw new ProtocolValidationError(path, 'expected a 64 hex digit image id')
  return v
}

export interface InfoRequest { ref: string }
export interface InfoResponse { record: ImageRecord | null }
export interface ManifestRequest { id: string }

export const imageInfoProtocol: RpcProtocolSpec<InfoRequest, InfoResponse> = {
  id: IMAGE_INFO_PROTOCOL,
  request: jsonCodec(512, v => ({ ref: checkRef((v as InfoRequest)?.ref, 'ref') })),
  response: jsonCodec(MAX_RECORD_BYTES, v => {
    const r = (v as InfoResponse)?.record
    if (r === null) return { record: null }
    try {
      return { record: parseRecord(r, 'an info response') }
    } catch (err) {
      throw new ProtocolValidationError('record', (err as Error).message)
    }
  })
}

export const imageManifestProtocol: RpcProtocolSpec<ManifestRequest, Uint8Array> = {
  id: IMAGE_MANIFEST_PROTOCOL,
  request: jsonCodec(256, v => ({ id: checkId((v as ManifestRequest)?.id, 'id') })),
  response: bytesCodec(MAX_MANIFEST_BYTES)
}
