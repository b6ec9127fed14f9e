import { createHash, randomBytes } from 'node:crypto'
import { mkdir, open, readFile, stat } from 'node:fs/promises'
import { dirname } from 'node:path'

// The pool key: a libp2p private-network pre-shared key in the swarm.key format that @libp2p/pnet (3.x) and go-ipfs
// read:
//
//   /key/swarm/psk/1.0.0/
//   /base16/
//   <64 hex digits: 32 random bytes>
//
// pnet's own decoder accepts whatever its base16 codec takes and reports every fault as one "invalid" message; we
// validate first, line by line, so a wrong file is named precisely, and hand pnet the canonical bytes
// (`preSharedKey({ psk: poolKey.protectorKey })`).

export const PSK_HEADER = '/key/swarm/psk/1.0.0/'
export const PSK_CODEC = '/base16/'
export const PSK_BYTES = 32
const MAX_FILE_BYTES = 4096

export class PoolKeyError extends Error {
  override readonly name = 'PoolKeyError'
  readonly file: string
  constructor (file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options)
    this.file = file
  }
}

export interface PoolKey {
  /** The 32 secret bytes. */
  psk: Uint8Array
  /** The swarm.key text, canonical (lowercase hex, no trailing newline): pass it to pnet's preSharedKey({ psk }). */
  protectorKey: Uint8Array
  /** First 16 hex digits of sha256(psk): names the key in logs and `sdpeer hosts` without revealing it. */
  fingerprint: string
  /** Non-fatal findings, e.g. a file others can read. */
  warnings: string[]
}

/** A new key's file text (with a final newline, as files have). */
export function generatePoolKeyText (): string {
  return `${PSK_HEADER}\n${PSK_CODEC}\n${randomBytes(PSK_BYTES).toString('hex')}\n`
}

export function parsePoolKey (text: string, file = '<pool key>'): PoolKey {
  const lines = text.split(/\r\n|\n|\r/)
  while (lines.length > 3 && lines[lines.length - 1].trim() === '') lines.pop()
  if (lines.length !== 3) throw new PoolKeyError(file, `expected 3 lines (${PSK_HEADER}, ${PSK_CODEC}, 64 hex digits), found ${lines.length}`)
  const [header, codec, hex] = lines.map(l => l.trim())
  if (header !== PSK_HEADER) throw new PoolKeyError(file, `line 1 must be ${PSK_HEADER} (is this a swarm.key?)`)
  if (codec !== PSK_CODEC) throw new PoolKeyError(file, `line 2 must be ${PSK_CODEC}; other encodings are not supported`)
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw new PoolKeyError(file, `line 3 must be 64 hex digits (${PSK_BYTES} bytes), found ${hex.length} characters`)
  const psk = new Uint8Array(Buffer.from(hex, 'hex'))
  if (psk.every(b => b === 0)) throw new PoolKeyError(file, 'the key is all zeros; generate one with `sdpeer keygen pool`')
  const canonical = `${PSK_HEADER}\n${PSK_CODEC}\n${hex.toLowerCase()}`
  return {
    psk,
    protectorKey: new Uint8Array(Buffer.from(canonical, 'utf8')),
    fingerprint: createHash('sha256').update(psk).digest('hex').slice(0, 16),
    warnings: []
  }
}

/** Reads and validates a pool key file; warns (does not refuse) when group or others may read it. */
export async function loadPoolKey (file: string): Promise<PoolKey> {
  let st
  try {
    st = await stat(file)
  } catch (err) {
    throw new PoolKeyError(file, (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : `cannot read: ${(err as Error).message}`, { cause: err })
  }
  if (!st.isFile()) throw new PoolKeyError(file, 'is not a regular file')
  if (st.size > MAX_FILE_BYTES) throw new PoolKeyError(file, `is ${st.size} bytes; a pool key is about 90`)
  const key = parsePoolKey(await readFile(file, 'utf8'), file)
  if ((st.mode & 0o077) !== 0) key.warnings.push(`${file}: mode ${(st.mode & 0o777).toString(8)} lets others read the pool key; chmod 600`)
  return key
}

/** Writes a new pool key file, mode 0600, refusing to overwrite. Returns the parsed key. */
export async function createPoolKeyFile (file: string): Promise<PoolKey> {
  const text = generatePoolKeyText()
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  let fh
  try {
    fh = await open(file, 'wx', 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new PoolKeyError(file, 'exists already; not overwritten')
    throw new PoolKeyError(file, `cannot create: ${(err as Error).message}`, { cause: err })
  }
  try {
    await fh.writeFile(text)
    await fh.sync()
  } finally {
    await fh.close()
  }
  return parsePoolKey(text, file)
}
