import { mkdir, open, readFile, rename, unlink, chmod } from 'node:fs/promises'
import { join, dirname } from 'node:path'

// The daemon's own part of the state dir: a lock naming the process that holds the directory, and `daemon.json`, the
// host identity the directory belongs to. The engine keeps its pools in the same directory; two daemons on one state
// dir would both drive the same domains, and a state dir taken over under another host name would mislabel them.

export class StateDirError extends Error {
  override readonly name = 'StateDirError'
  readonly stateDir: string
  constructor (stateDir: string, message: string, options?: { cause?: unknown }) {
    super(`state dir ${stateDir}: ${message}`, options)
    this.stateDir = stateDir
  }
}

export interface DaemonIdentity {
  /** Host name the pools in this state dir were deployed under. */
  host: string
  driver: string
  created: string
}

export const IDENTITY_FILE = 'daemon.json'
export const LOCK_FILE = 'daemon.lock'

/** Writes a file so that a crash leaves either the old or the new content: temp file, fsync, rename, fsync dir. */
export async function writeFileAtomic (path: string, data: string, mode = 0o600): Promise<void> {
  const tmp = `${path}.tmp-${process.pid}`
  const fh = await open(tmp, 'w', mode)
  try {
    await fh.writeFile(data)
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
  const dir = await open(dirname(path), 'r')
  try { await dir.sync() } finally { await dir.close() }
}

export async function ensureStateDir (stateDir: string): Promise<void> {
  await mkdir(stateDir, { recursive: true, mode: 0o700 })
  // Pools, handles and the API socket live here: nobody else reads it, whatever the umask made of an existing dir.
  await chmod(stateDir, 0o700)
}

function pidAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

/**
 * Takes the state dir for this process: `daemon.lock` created exclusively with our pid. A lock left by a dead process
 * (SIGKILL) is taken over; one held by a live process is refused. Returns the release function.
 */
export async function lockStateDir (stateDir: string): Promise<() => Promise<void>> {
  const path = join(stateDir, LOCK_FILE)
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      const fh = await open(path, 'wx', 0o600)
      try { await fh.writeFile(`${process.pid}\n`); await fh.sync() } finally { await fh.close() }
      return async () => { await unlink(path).catch(() => {}) }
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
    const text = await readFile(path, 'utf8').catch(() => '')
    const pid = Number.parseInt(text.trim(), 10)
    if (Number.isSafeInteger(pid) && pid > 0 && pidAlive(pid)) {
      throw new StateDirError(stateDir, `held by the sdpeer daemon with pid ${pid} (${path})`)
    }
    // Stale: the holder died without releasing it. Remove and retry once; if another daemon wins the retry, it holds it.
    await unlink(path).catch(() => {})
  }
  throw new StateDirError(stateDir, `another daemon took ${path} at the same time`)
}

/** Reads `daemon.json`, or creates it on first start. Refuses a state dir made for another host name. */
export async function loadIdentity (stateDir: string, host: string, driver: string): Promise<DaemonIdentity> {
  const path = join(stateDir, IDENTITY_FILE)
  let text: string | undefined
  try {
    text = await readFile(path, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
  }
  if (text === undefined) {
    const identity: DaemonIdentity = { host, driver, created: new Date().toISOString() }
    await writeFileAtomic(path, JSON.stringify(identity, null, 2) + '\n')
    return identity
  }
  let parsed: unknown
  try { parsed = JSON.parse(text) } catch (err) { throw new StateDirError(stateDir, `${IDENTITY_FILE} is not JSON`, { cause: err }) }
  const id = parsed as Partial<DaemonIdentity>
  if (typeof id?.host !== 'string' || typeof id.driver !== 'string') throw new StateDirError(stateDir, `${IDENTITY_FILE} lacks host or driver`)
  if (id.host !== host) {
    throw new StateDirError(stateDir, `belongs to host ${JSON.stringify(id.host)}, not ${JSON.stringify(host)}; its pools would be recovered under the wrong name`)
  }
  if (id.driver !== driver) {
    throw new StateDirError(stateDir, `its domains were started by driver ${JSON.stringify(id.driver)}, not ${JSON.stringify(driver)}`)
  }
  return { host: id.host, driver: id.driver, created: String(id.created ?? '') }
}
