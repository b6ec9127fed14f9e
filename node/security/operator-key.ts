import { mkdir, open, readFile, stat } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { generateOperatorKey, privateKeyFromPem, privateKeyToPem, publicKeyText } from '../../protocol/auth/index.ts'
import type { KeyObject } from 'node:crypto'

// The operator's private key on the user's machine: PKCS#8 PEM, mode 0600, in the user's configuration directory.
// Like ssh, a key file that others can read is refused rather than used: a leaked operator key signs anything.

export class OperatorKeyError extends Error {
  override readonly name = 'OperatorKeyError'
  readonly file: string
  constructor (file: string, message: string, options?: { cause?: unknown }) {
    super(`${file}: ${message}`, options)
    this.file = file
  }
}

export interface OperatorKey {
  privateKey: KeyObject
  /** `ed25519:BASE64URL`, what `sdpeer trust add` takes. */
  publicText: string
  file: string
}

/** `$XDG_CONFIG_HOME/sdpeer/operator.key`, else `~/.config/sdpeer/operator.key`. */
export function defaultOperatorKeyPath (env: NodeJS.ProcessEnv): string {
  const xdg = env.XDG_CONFIG_HOME
  if (xdg !== undefined && xdg.startsWith('/')) return join(xdg, 'sdpeer', 'operator.key')
  if (env.HOME === undefined || env.HOME === '') throw new OperatorKeyError('operator.key', 'neither XDG_CONFIG_HOME nor HOME is set; pass --out or --key')
  return join(env.HOME, '.config', 'sdpeer', 'operator.key')
}

/** Creates a new key at `file` (mode 0600, directory 0700). Refuses to overwrite an existing file. */
export async function createOperatorKey (file: string): Promise<OperatorKey> {
  const pair = generateOperatorKey()
  await mkdir(dirname(file), { recursive: true, mode: 0o700 })
  let fh
  try {
    fh = await open(file, 'wx', 0o600)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new OperatorKeyError(file, 'exists already; not overwritten (remove it first if you mean to replace the key)')
    throw new OperatorKeyError(file, `cannot create: ${(err as Error).message}`, { cause: err })
  }
  try {
    await fh.writeFile(privateKeyToPem(pair.privateKey))
    await fh.sync()
  } finally {
    await fh.close()
  }
  return { privateKey: pair.privateKey, publicText: pair.publicText, file }
}

export async function loadOperatorKey (file: string): Promise<OperatorKey> {
  let st
  try {
    st = await stat(file)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new OperatorKeyError(file, 'no operator key here; create one with `sdpeer keygen operator`')
    throw new OperatorKeyError(file, `cannot read: ${(err as Error).message}`, { cause: err })
  }
  if ((st.mode & 0o077) !== 0) {
    throw new OperatorKeyError(file, `permissions ${(st.mode & 0o777).toString(8)} are too open; the key must be readable by its owner only (chmod 600)`)
  }
  let key: KeyObject
  try {
    key = privateKeyFromPem(await readFile(file, 'utf8'))
  } catch (err) {
    throw new OperatorKeyError(file, (err as Error).message, { cause: err })
  }
  return { privateKey: key, publicText: publicKeyText(key), file }
}
