import { lstatSync, realpathSync } from 'node:fs'
import { basename, dirname, isAbsolute, join, normalize, sep } from 'node:path'
import type { SfJsonObject } from '../sf/sfjson.ts'
import { attrLabel, components } from './walk.ts'
import { isImageRefValue } from '../../protocol/image-names.ts'

// What a description may touch on a host: each host declares directories (`--allow-path DIR`, or `ro:DIR` for
// read-only) and every path a description names must lie inside one of them after symlinks are resolved. ".." is
// refused outright (lexically removing it would be wrong across symlinks, and no honest description needs it);
// relative paths are refused (the daemon's working directory means nothing to the operator). The longest existing
// prefix of the path is resolved with realpath, so a symlink anywhere on the way that points outside is caught.
//
// Checked at prepare. A path could still be swapped for a symlink between the check and its use: the allowed
// directories must be writable by root only (SECURITY.md).

export type PathMode = 'read' | 'write'

export interface AllowedPaths {
  /** Directories descriptions may read images and kernels from. */
  read: string[]
  /** Directories descriptions may write saved images into (and mount in). */
  write: string[]
}

export class PathPolicyError extends Error {
  override readonly name = 'PathPolicyError'
  /** Component path and attribute, e.g. `computer1:lvm baseImage`. */
  readonly attr: string
  readonly value: unknown
  readonly mode: PathMode
  constructor (attr: string, value: unknown, mode: PathMode, reason: string) {
    super(`${attr} ${JSON.stringify(typeof value === 'string' ? value.slice(0, 200) : value)} refused: ${reason}`)
    this.attr = attr
    this.value = value
    this.mode = mode
  }
}

/** `--allow-path` values: `DIR` allows reading and writing, `ro:DIR` reading only. Directories must be absolute. */
export function parseAllowPaths (args: readonly string[]): AllowedPaths {
  const out: AllowedPaths = { read: [], write: [] }
  for (const a of args) {
    const ro = a.startsWith('ro:')
    const dir = ro ? a.slice(3) : a
    if (!isAbsolute(dir) || dir.includes('\0')) throw new TypeError(`--allow-path ${JSON.stringify(a)}: an allowed directory must be an absolute path`)
    out.read.push(normalize(dir))
    if (!ro) out.write.push(normalize(dir))
  }
  return out
}

/** Attributes of our components that name host paths, and how they are used. */
export const PATH_ATTRIBUTES: Readonly<Record<string, PathMode>> = {
  baseImage: 'read',
  kernel: 'read',
  ramdisk: 'read',
  saveImagePath: 'write',
  tempMountPoint: 'write'
}

const MAX_PATH = 4096

/**
 * Resolves symlinks of the longest existing prefix and appends the rest; throws for a dangling symlink. Synchronous
 * on purpose: a handful of syscalls on the host's own directories, so a prepare's verdict never waits in the
 * thread pool behind unrelated I/O (and the deploy simulation's virtual clock, which runs prepares, sees no gap).
 */
async function resolveExisting (p: string): Promise<string> {
  let head = p
  const rest: string[] = []
  for (;;) {
    try {
      const real = realpathSync.native(head)
      return rest.length === 0 ? real : join(real, ...rest.reverse())
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
      // realpath fails on a dangling symlink too: writing through it would create its target wherever it points.
      let st
      try { st = lstatSync(head) } catch { st = undefined }
      if (st?.isSymbolicLink()) throw new Error(`${head} is a symlink to a path that does not exist`)
    }
    const parent = dirname(head)
    if (parent === head) return p
    rest.push(basename(head))
    head = parent
  }
}

function inside (p: string, dir: string): boolean {
  return p === dir || p.startsWith(dir.endsWith(sep) ? dir : dir + sep)
}

/**
 * Checks one path-valued attribute; returns the resolved path to use, or throws PathPolicyError with the attribute's
 * path and value. `attr` names it for messages (`computer1:lvm baseImage`).
 */
export async function checkPath (attr: string, value: unknown, mode: PathMode, allowed: AllowedPaths): Promise<string> {
  const refuse = (reason: string): never => { throw new PathPolicyError(attr, value, mode, reason) }
  if (typeof value !== 'string') return refuse('must be a string')
  if (value.length === 0 || value.length > MAX_PATH) return refuse(`must be 1 to ${MAX_PATH} characters`)
  if (/[\0-\x1f\x7f]/.test(value)) return refuse('contains a control character')
  if (!isAbsolute(value)) return refuse('must be an absolute path')
  if (value.split('/').includes('..')) return refuse('contains "..", which may escape the allowed directories')
  const dirs = mode === 'read' ? allowed.read : allowed.write
  if (dirs.length === 0) return refuse(`this host allows no directory for ${mode === 'read' ? 'reading' : 'writing'} (sdpeer join --allow-path DIR)`)
  let resolved: string
  try {
    resolved = await resolveExisting(normalize(value))
  } catch (err) {
    return refuse((err as Error).message)
  }
  for (const d of dirs) {
    const real = await resolveExisting(d).catch(() => undefined)
    if (real !== undefined && inside(resolved, real)) return resolved
  }
  const via = resolved !== normalize(value) ? ` (it resolves to ${resolved})` : ''
  return refuse(`outside the directories this host allows for ${mode === 'read' ? 'reading' : 'writing'}${via}: ${dirs.join(', ')}`)
}

/**
 * Checks every path-valued attribute (PATH_ATTRIBUTES) of our components in a resolved pool; returns all violations
 * (empty when the pool may run here). References (`$ref`) are left to the engine, which checks the value it resolves.
 */
export async function checkPoolPaths (config: SfJsonObject, allowed: AllowedPaths): Promise<PathPolicyError[]> {
  const out: PathPolicyError[] = []
  for (const { path, component, ours } of components(config)) {
    if (!ours) continue
    for (const [attr, mode] of Object.entries(PATH_ATTRIBUTES)) {
      const v = component[attr]
      if (v === undefined || (typeof v === 'object' && v !== null && !Array.isArray(v) && '$ref' in v)) continue
      // A warehouse image (`image:NAME`, `image:ID`) is a file of this host's state dir, chosen by its name: only
      // the name's syntax matters here (no separators, no "..").
      if (attr === 'baseImage' && typeof v === 'string' && v.startsWith('image:')) {
        if (!isImageRefValue(v)) out.push(new PathPolicyError(attrLabel(path, attr), v, mode, 'is not an image reference (image:NAME or image:ID)'))
        continue
      }
      try {
        await checkPath(attrLabel(path, attr), v, mode, allowed)
      } catch (err) {
        if (err instanceof PathPolicyError) out.push(err); else throw err
      }
    }
  }
  return out
}
