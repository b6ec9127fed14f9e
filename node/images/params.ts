import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { ImageParamsError } from './errors.ts'

// Build parameters and the image id. The id is the sha256 of the canonical JSON of the normalised parameters:
// packages sorted and de-duplicated, files named by the sha256 of their content (not their source path), secrets by
// their hash. Two builds asking for the same thing get the same id, so the second returns the first's image.

/** Bumped whenever the build recipe changes what lands in an image, so old ids do not name new content. */
export const RECIPE_VERSION = 1

export type ImageFormat = 'tar.gz' | 'raw' | 'qcow2'
export const IMAGE_FORMATS: readonly ImageFormat[] = ['tar.gz', 'raw', 'qcow2']

/** What the operator asked for (paths still on disk). */
export interface BuildRequest {
  distro: string
  suite: string
  variant?: string
  packages?: string[]
  /** SRC:DEST pairs: local file copied into the image at DEST. */
  files?: Array<{ src: string, dest: string }>
  sshKeyFile?: string
  rootPasswordHash?: string
  format: ImageFormat
  /** Bytes of the disk for raw and qcow2. */
  sizeBytes?: number
}

/** The normalised parameters: what the id is computed from and what the warehouse record keeps. */
export interface BuildParams {
  recipe: number
  distro: string
  suite: string
  variant: string
  packages: string[]
  files: Array<{ dest: string, sha256: string }>
  sshKeySha256: string | null
  rootPasswordSha256: string | null
  format: ImageFormat
  sizeBytes: number | null
}

const NAME = /^[a-z0-9][a-z0-9.+-]{0,63}$/
const PACKAGE = /^[a-z0-9][a-z0-9.+-]{0,127}$/
const DEFAULT_SIZE = 2 * 1024 ** 3

export function sha256Hex (data: string | Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

/** JSON with object keys sorted at every level: one text per value, so one hash. */
export function canonicalJson (value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`
  if (value !== null && typeof value === 'object') {
    const obj = value as Record<string, unknown>
    return `{${Object.keys(obj).sort().filter(k => obj[k] !== undefined).map(k => `${JSON.stringify(k)}:${canonicalJson(obj[k])}`).join(',')}}`
  }
  return JSON.stringify(value)
}

export function imageIdOf (params: BuildParams): string {
  return sha256Hex(canonicalJson(params))
}

/** Parses `2G`, `512M`, `1048576` (bytes; K/M/G/T are powers of 1024). */
export function parseSize (text: string): number {
  const m = /^(\d+)([KMGT]?)i?B?$/i.exec(text.trim())
  if (m == null) throw new ImageParamsError('size', `"${text}" is not a size like 2G or 512M`)
  const mult = { '': 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4 }[m[2].toUpperCase() as '' | 'K' | 'M' | 'G' | 'T']
  const n = Number(m[1]) * mult
  if (!Number.isSafeInteger(n) || n <= 0) throw new ImageParamsError('size', `"${text}" is out of range`)
  return n
}

/** Validates the request and reads the files it names, giving the normalised parameters. */
export async function normaliseBuild (req: BuildRequest): Promise<BuildParams> {
  if (req.distro !== 'debian') throw new ImageParamsError('distro', `"${req.distro}" is not supported (debian only)`)
  if (!NAME.test(req.suite)) throw new ImageParamsError('suite', `"${req.suite}" is not a suite name`)
  const variant = req.variant ?? 'minbase'
  if (!['minbase', 'buildd', 'fakechroot', 'standard'].includes(variant)) throw new ImageParamsError('variant', `"${variant}" is not a debootstrap variant`)
  const packages = [...new Set((req.packages ?? []).map(p => p.trim()).filter(p => p !== ''))].sort()
  for (const p of packages) if (!PACKAGE.test(p)) throw new ImageParamsError('packages', `"${p}" is not a Debian package name`)
  if (!IMAGE_FORMATS.includes(req.format)) throw new ImageParamsError('format', `"${String(req.format)}" is not one of ${IMAGE_FORMATS.join(', ')}`)
  const files: BuildParams['files'] = []
  const seen = new Set<string>()
  for (const f of req.files ?? []) {
    checkDest(f.dest)
    if (seen.has(f.dest)) throw new ImageParamsError('file', `${f.dest} given twice`)
    seen.add(f.dest)
    files.push({ dest: f.dest, sha256: sha256Hex(await readParamFile('file', f.src)) })
  }
  files.sort((a, b) => a.dest < b.dest ? -1 : a.dest > b.dest ? 1 : 0)
  const sshKeySha256 = req.sshKeyFile != null ? sha256Hex(await readParamFile('ssh-key', req.sshKeyFile)) : null
  if (req.rootPasswordHash != null && !/^\$[0-9a-z]+\$[^\s:]+$/.test(req.rootPasswordHash)) {
    throw new ImageParamsError('root-password-hash', 'expected a crypt(3) hash such as $6$salt$...')
  }
  return {
    recipe: RECIPE_VERSION,
    distro: req.distro,
    suite: req.suite,
    variant,
    packages,
    files,
    sshKeySha256,
    rootPasswordSha256: req.rootPasswordHash != null ? sha256Hex(req.rootPasswordHash) : null,
    format: req.format,
    sizeBytes: req.format === 'tar.gz' ? null : (req.sizeBytes ?? DEFAULT_SIZE)
  }
}

/** The name a plain build gets in the warehouse, e.g. debian-bookworm-minbase (extras make it a different image). */
export function defaultName (p: BuildParams): string {
  const plain = p.packages.length === 0 && p.files.length === 0 && p.sshKeySha256 == null && p.rootPasswordSha256 == null
  const base = `${p.distro}-${p.suite}-${p.variant}`
  const withFormat = p.format === 'raw' ? base : `${base}-${p.format.replace('.', '')}`
  return plain ? withFormat : `${withFormat}-${imageIdOf(p).slice(0, 8)}`
}

function checkDest (dest: string): void {
  if (!dest.startsWith('/') || dest.split('/').some(s => s === '..' || s === '.') || dest.endsWith('/') || dest.includes('\0')) {
    throw new ImageParamsError('file', `destination "${dest}" must be an absolute file path without . or ..`)
  }
}

async function readParamFile (field: string, path: string): Promise<Buffer> {
  try {
    return await readFile(path)
  } catch (err) {
    throw new ImageParamsError(field, `cannot read ${path}: ${(err as Error).message}`)
  }
}
