import { open, readFile, rename, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'

// The qemu driver's files under STATE/qemu: per domain a record (NAME.json: the handle data plus whether a stop was
// asked for), the QMP socket, the serial log, qemu's own stdout/stderr and, when this daemon was qemu's parent,
// its exit status. The record is what `list` and a restarted daemon read, so it is written crash-safe.

export interface DomainPaths {
  record: string
  qmpSocket: string
  serialLog: string
  stderrLog: string
  exitFile: string
}

export function domainPaths (dir: string, name: string): DomainPaths {
  return {
    record: join(dir, `${name}.json`),
    qmpSocket: join(dir, `${name}.qmp`),
    serialLog: join(dir, `${name}.serial.log`),
    stderrLog: join(dir, `${name}.stderr.log`),
    exitFile: join(dir, `${name}.exit.json`)
  }
}

export interface DomainRecord {
  name: string
  pid: number
  startTime: string
  accel: string
  startedAt: string
  /** Set before a shutdown or destroy: a qemu that is gone afterwards was stopped, not crashed. */
  stopRequested?: boolean
}

export interface ExitRecord {
  /** The process this is the exit of (pid + start time), so an old file is never read as a new qemu's. */
  pid: number
  startTime: string
  exitCode?: number
  signal?: string
}

export async function writeJsonAtomic (path: string, value: unknown): Promise<void> {
  const tmp = `${path}.${process.pid}.tmp`
  const fh = await open(tmp, 'w', 0o600)
  try {
    await fh.writeFile(JSON.stringify(value) + '\n')
    await fh.sync()
  } finally {
    await fh.close()
  }
  await rename(tmp, path)
}

export async function readJson<T> (path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T
  } catch {
    return undefined
  }
}

/** The last line of the log's last 16 KiB that matches `pattern` (e.g. the "Kernel panic" line above an oops dump). */
export async function lastMatch (path: string, pattern: RegExp): Promise<string | undefined> {
  return (await tail(path, 1000)).findLast(l => pattern.test(l))
}

/** The last `lines` non-empty lines of a log, read from at most its last 16 KiB. */
export async function tail (path: string, lines: number): Promise<string[]> {
  try {
    const size = (await stat(path)).size
    const fh = await open(path, 'r')
    try {
      const length = Math.min(size, 16384)
      const buf = Buffer.alloc(length)
      await fh.read(buf, 0, length, size - length)
      return buf.toString('utf8').split(/\r?\n/).map(l => l.trimEnd()).filter(l => l !== '').slice(-lines)
    } finally {
      await fh.close()
    }
  } catch {
    return []
  }
}

export async function removeRuntimeFiles (paths: DomainPaths): Promise<void> {
  // Logs stay: `sdpeer logs` and post-mortems read them after the domain is gone; the next start truncates them.
  await Promise.all([paths.record, paths.qmpSocket, paths.exitFile].map(p => rm(p, { force: true })))
}
