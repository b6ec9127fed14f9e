import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import type { PrivateKey } from '@libp2p/interface'
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { IdentityKeyError } from './errors.ts'

// The peer's Ed25519 identity lives in `stateDir/identity.key` (protobuf, mode 0600), created once, so a restarted
// host keeps its peer id and the mesh keeps recognising it.

export const IDENTITY_FILE = 'identity.key'

/** Loads the identity key of `stateDir`, creating it (crash-safe) on first start. */
export async function loadOrCreateIdentity (stateDir: string): Promise<PrivateKey> {
  const path = join(stateDir, IDENTITY_FILE)
  let bytes: Uint8Array | undefined
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw new IdentityKeyError(path, 'cannot read', { cause: err })
  }
  if (bytes != null) {
    try {
      return privateKeyFromProtobuf(bytes)
    } catch (err) {
      // A damaged key is an operator's problem to look at: replacing it would silently change our peer id.
      throw new IdentityKeyError(path, 'not a valid private key', { cause: err })
    }
  }
  const key = await generateKeyPair('Ed25519')
  await mkdir(stateDir, { recursive: true, mode: 0o700 })
  await writeFileAtomic(path, privateKeyToProtobuf(key), 0o600)
  return key
}

/** Temp file, fsync, rename, fsync of the directory: after a crash the file is either old or new, never torn. */
export async function writeFileAtomic (path: string, data: Uint8Array, mode: number): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`
  const fh = await open(tmp, 'w', mode)
  try {
    await fh.writeFile(data)
    await fh.chmod(mode) // the umask may have taken bits away; the mode is the contract
    await fh.sync()
  } catch (err) {
    await fh.close()
    await rm(tmp, { force: true })
    throw err
  }
  await fh.close()
  await rename(tmp, path)
  const dir = await open(join(path, '..'), 'r')
  try { await dir.sync() } finally { await dir.close() }
}
