import { mkdtemp, chmod, rm, stat } from 'node:fs/promises'
import { isAbsolute, join, relative, resolve } from 'node:path'
import { StorageError } from './types.ts'
import type { StorageContext } from './types.ts'
import type { ShellResult } from '../seams/shell.ts'

// Pieces every backend shares: name and size checks, base-image kinds, commands with the context's signal, temp dirs.

export type BackendKind = 'loopback' | 'lvm' | 'cow'

/** Domain, volume and volume-group names end up in file names and LV names: a closed alphabet, no `..`, no `/`. */
export const SAFE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** Attributes come from a description, where an optional one may be absent or null: both mean "not given". */
export function given<T> (value: T | null | undefined): T | undefined {
  return value === null ? undefined : value
}

export function checkName (kind: BackendKind, field: string, value: unknown): string {
  if (typeof value !== 'string' || !SAFE_NAME.test(value)) {
    throw new StorageError(kind, `${field} ${JSON.stringify(value)} is not a safe name ([A-Za-z0-9][A-Za-z0-9._-]{0,63})`)
  }
  return value
}

const SIZE_UNITS: Record<string, number> = { k: 1 / 1024, m: 1, g: 1024, t: 1024 * 1024 }

/**
 * A volume size in MiB, rounded up: an Integer is MiB (as in the SmartDomains descriptions), a String takes a
 * binary unit: "512M", "1G", "1.5G", "2048" (MiB), "10GiB", "4096K".
 */
export function parseSizeMiB (kind: BackendKind, field: string, value: unknown): number {
  let mib: number | undefined
  if (typeof value === 'number') {
    mib = value
  } else if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([kmgt]?)(?:i?b)?\s*$/i.exec(value)
    if (m !== null) mib = Number(m[1]) * SIZE_UNITS[(m[2] || 'm').toLowerCase()]
  }
  if (mib === undefined || !Number.isFinite(mib) || mib <= 0 || mib > 1024 ** 3) {
    throw new StorageError(kind, `${field} ${JSON.stringify(value)} is not a size (MiB as a number, or "512M", "1G")`)
  }
  return Math.ceil(mib)
}

export type BaseImageKind = 'tarball' | 'directory' | 'image'

const TARBALL = /\.(tar|tar\.gz|tgz|tar\.bz2|tbz2?|tar\.xz|txz|tar\.zst|tzst)$/i

/** A tarball by its extension, a directory (used as the tree to copy), anything else an image holding a file system. */
export async function baseImageKind (kind: BackendKind, path: string): Promise<BaseImageKind> {
  let st
  try {
    st = await stat(path)
  } catch (e) {
    throw new StorageError(kind, `baseImage ${path}: ${(e as Error).message}`, { cause: e })
  }
  if (st.isDirectory()) return 'directory'
  if (!st.isFile() && !st.isBlockDevice()) throw new StorageError(kind, `baseImage ${path} is neither a file nor a directory`)
  return TARBALL.test(path) ? 'tarball' : 'image'
}

/** `base` must be absolute once resolved; qemu-img and friends would read "proto:..." in a relative name as a protocol. */
export function absolute (path: string): string {
  return isAbsolute(path) ? path : resolve(path)
}

/** Joins a checked name under a directory and makes sure the result stays inside it. */
export function inside (kind: BackendKind, dir: string, name: string): string {
  const p = join(dir, name)
  const rel = relative(dir, p)
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new StorageError(kind, `${JSON.stringify(name)} escapes ${dir}`)
  return p
}

/** Checks that a path read back from a saved record still lies inside the directory it was created in. */
export function checkInside (kind: BackendKind, dir: string, path: unknown): string {
  if (typeof path !== 'string') throw new StorageError(kind, `record path ${JSON.stringify(path)} is not a string`)
  const rel = relative(resolve(dir), resolve(path))
  if (rel === '' || rel.startsWith('..') || isAbsolute(rel)) throw new StorageError(kind, `record path ${path} lies outside ${dir}`)
  return path
}

/**
 * Runs host commands for a backend with the context's signal. `forCleanup` drops the signal: a prepare aborted
 * half-way must still remove what it created, so its rollback cannot be cancelled by the same abort.
 */
export function runner (ctx: StorageContext, options: { forCleanup?: boolean } = {}) {
  const signal = options.forCleanup === true ? undefined : ctx.signal
  return (file: string, args: string[], timeoutMs = 600_000): Promise<ShellResult> =>
    ctx.shell.run({ file, args, signal, timeoutMs })
}

/** A scratch directory in the work dir, world-readable so that a tree copied from it keeps a normal root mode. */
export async function scratchDir (ctx: StorageContext, prefix: string): Promise<string> {
  const dir = await mkdtemp(join(ctx.workDir, `.${prefix}-`))
  await chmod(dir, 0o755)
  return dir
}

export async function removeQuietly (path: string | undefined): Promise<void> {
  if (path !== undefined) await rm(path, { recursive: true, force: true })
}

export async function exists (path: string): Promise<boolean> {
  try {
    await stat(path)
    return true
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false
    throw e
  }
}

/** e2fsck exits 1 when it corrected something: that is success for us (a freshly copied image may need it). */
export async function fsckForced (run: ReturnType<typeof runner>, device: string): Promise<void> {
  try {
    await run('e2fsck', ['-f', '-y', device])
  } catch (e) {
    if ((e as { exitCode?: number }).exitCode !== 1) throw e
  }
}

export function wrap (kind: BackendKind, what: string, e: unknown): StorageError {
  if (e instanceof StorageError) return e
  return new StorageError(kind, `${what}: ${(e as Error)?.message ?? String(e)}`, { cause: e })
}
