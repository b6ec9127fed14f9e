import { randomBytes, createHash, timingSafeEqual } from 'node:crypto'
import { open, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'

// The console's access token: made once per state dir, kept in `console.token` (0600) so that `sdpeer console` on the
// same machine can print the URL and a restarted daemon keeps the operator's open tabs working.

export const TOKEN_FILE = 'console.token'
/** Written by a running console: its URL without the token, for `sdpeer console`. Removed when the console stops. */
export const URL_FILE = 'console.url'

const TOKEN = /^[A-Za-z0-9_-]{43}$/

export class ConsoleTokenError extends Error {
  override readonly name = 'ConsoleTokenError'
  readonly file: string
  constructor (file: string, message: string) {
    super(`${file}: ${message}`)
    this.file = file
  }
}

export async function readToken (stateDir: string): Promise<string> {
  const file = join(stateDir, TOKEN_FILE)
  const text = (await readFile(file, 'utf8')).trim()
  if (!TOKEN.test(text)) throw new ConsoleTokenError(file, 'is not a console token (43 url-safe base64 characters); remove it to have a new one made')
  const mode = (await stat(file)).mode & 0o777
  if ((mode & 0o077) !== 0) throw new ConsoleTokenError(file, `is readable by others (mode ${mode.toString(8)}); chmod 600 it`)
  return text
}

/** Reads the token, or makes one (32 random bytes) when the file does not exist. */
export async function loadOrCreateToken (stateDir: string): Promise<string> {
  const file = join(stateDir, TOKEN_FILE)
  try {
    return await readToken(stateDir)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  const token = randomBytes(32).toString('base64url')
  // 'wx': two daemons racing on one state dir cannot both write; the loser reads the winner's token.
  try {
    const fh = await open(file, 'wx', 0o600)
    try { await fh.writeFile(token + '\n'); await fh.sync() } finally { await fh.close() }
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return await readToken(stateDir)
    throw err
  }
  return token
}

/** Constant-time comparison: a wrong token tells nothing about how much of it was right. */
export function sameToken (given: string | undefined, token: string): boolean {
  if (given === undefined) return false
  const a = createHash('sha256').update(given).digest()
  const b = createHash('sha256').update(token).digest()
  return timingSafeEqual(a, b)
}

/** The anti-CSRF value pages carry and POSTs send back in a header: derived, so the page never holds the token. */
export function csrfFor (token: string): string {
  return createHash('sha256').update(`sdpeer-console-csrf:${token}`).digest('base64url')
}
