import net from 'node:net'
import { lstat, unlink } from 'node:fs/promises'

// Taking the socket path safely: a live daemon's socket is never removed (its CLI would silently talk to nobody), a
// stale one left by a killed daemon is, and anything that is not a socket is left alone (a typo in --api must not
// delete a user's file).

export class DaemonAlreadyRunningError extends Error {
  override readonly name = 'DaemonAlreadyRunningError'
  readonly path: string
  constructor (path: string, detail: string) {
    super(`${path}: ${detail}`)
    this.path = path
  }
}

export class SocketPathError extends Error {
  override readonly name = 'SocketPathError'
  readonly path: string
  constructor (path: string, detail: string) {
    super(`${path}: ${detail}`)
    this.path = path
  }
}

/** Longest path a Unix socket address holds on Linux (sun_path is 108 bytes with the final NUL). */
export const MAX_SOCKET_PATH = 107

/** Resolves to true when something accepts connections on the socket. */
export async function socketAnswers (path: string, timeoutMs = 1000): Promise<boolean> {
  return await new Promise(resolve => {
    const s = net.connect(path)
    const t = setTimeout(() => { s.destroy(); resolve(true) }, timeoutMs)
    // A daemon that is alive but too busy to accept within the timeout still holds the socket: treat as live.
    s.once('connect', () => { clearTimeout(t); s.destroy(); resolve(true) })
    s.once('error', () => { clearTimeout(t); resolve(false) })
  })
}

export async function prepareSocketPath (path: string): Promise<void> {
  if (Buffer.byteLength(path) > MAX_SOCKET_PATH) {
    throw new SocketPathError(path, `longer than ${MAX_SOCKET_PATH} bytes, which a Unix socket address cannot hold; use a shorter --api or --state-dir`)
  }
  let st
  try {
    st = await lstat(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw err
  }
  if (!st.isSocket()) throw new SocketPathError(path, 'exists and is not a socket; refusing to replace it')
  if (await socketAnswers(path)) throw new DaemonAlreadyRunningError(path, 'another sdpeer daemon is listening on this socket')
  await unlink(path).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err })
}
