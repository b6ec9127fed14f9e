import { dirname, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { buildImage } from '../../node/images/builder.ts'
import { aptMirror } from '../../node/images/mirror.ts'
import { IMAGE_FORMATS, parseSize } from '../../node/images/params.ts'
import type { BuildRequest, ImageFormat } from '../../node/images/params.ts'
import { Warehouse } from '../../node/images/warehouse.ts'
import type { ImageRecord } from '../../node/images/warehouse.ts'

export const summary = 'build, list, remove, import and export the images of this host\'s warehouse'
export const usage = `sdpeer image build|ls|rm|import|export ... [--state-dir DIR | --api PATH]

  sdpeer image build --distro debian --suite bookworm [--variant minbase] [--packages a,b] [--file SRC:DEST]...
                     [--ssh-key FILE] [--root-password-hash HASH] --format tar.gz|raw|qcow2 [--size 2G]
                     [--mirror URL] [--name NAME] [--quiet]
      Builds with debootstrap (default mirror: the Debian archive this machine's apt uses). The image id is the
      sha256 of the normalised parameters: building an id that exists returns it at once.
  sdpeer image ls [--json]
  sdpeer image rm ID|NAME
  sdpeer image import FILE [--name NAME]      id = its content root (sha256 over its chunks' sha256)
  sdpeer image export ID|NAME FILE

Descriptions name an image by id or name: baseImage "image:debian-bookworm-minbase".

  --state-dir DIR  the daemon's state dir (the warehouse is DIR/images)
  --api PATH       or the daemon's socket (default $SDPEER_API): its state dir is the socket's directory`

const COMMON = { 'state-dir': { type: 'string' }, api: { type: 'string' } } as const

export async function run (argv: string[], io: CliIO): Promise<number> {
  const [sub, ...rest] = argv
  switch (sub) {
    case 'build': return await build(rest, io)
    case 'ls': return await ls(rest, io)
    case 'rm': return await simple(rest, io, 1, async (w, [ref]) => { const r = await w.remove(ref); return `removed ${r.id}` })
    case 'import': return await importCmd(rest, io)
    case 'export': return await simple(rest, io, 2, async (w, [ref, file]) => { const r = await w.exportTo(ref, resolve(io.cwd, file)); return `exported ${r.id} to ${file}` })
    default: throw new UsageError(sub == null ? 'expected a sub-command: build, ls, rm, import, export' : `unknown sub-command "${sub}"`)
  }
}

function stateDirOf (values: { 'state-dir'?: string, api?: string }, io: CliIO): string {
  if (values['state-dir'] != null) return resolve(io.cwd, values['state-dir'])
  const api = values.api ?? io.env.SDPEER_API
  if (api != null && api !== '') return dirname(resolve(io.cwd, api))
  throw new UsageError('which warehouse? pass --state-dir DIR, or --api PATH / SDPEER_API of a daemon')
}

/** Errors of the operation (not of usage): one line on stderr, exit 1. */
async function guarded (io: CliIO, fn: () => Promise<number>): Promise<number> {
  try {
    return await fn()
  } catch (err) {
    const e = err as Error
    if (e instanceof UsageError || !/^(Image|TransferIncomplete)/.test(e.name)) throw err
    io.stderr.write(`sdpeer image: ${e.name}: ${e.message}\n`)
    return 1
  }
}

async function simple (argv: string[], io: CliIO, n: number, fn: (w: Warehouse, args: string[]) => Promise<string>): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: COMMON, allowPositionals: true, strict: true })
  if (positionals.length !== n) throw new UsageError(`expected ${n} argument${n > 1 ? 's' : ''}`)
  const w = new Warehouse(stateDirOf(values, io))
  return await guarded(io, async () => { io.stdout.write(await fn(w, positionals) + '\n'); return 0 })
}

async function importCmd (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { ...COMMON, name: { type: 'string' } }, allowPositionals: true, strict: true })
  if (positionals.length !== 1) throw new UsageError('expected FILE')
  const w = new Warehouse(stateDirOf(values, io))
  return await guarded(io, async () => {
    const r = await w.importFile(resolve(io.cwd, positionals[0]), values.name != null ? { name: values.name } : {})
    io.stdout.write(`${r.id}\n`)
    return 0
  })
}

async function ls (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({ args: argv, options: { ...COMMON, json: { type: 'boolean', default: false } }, allowPositionals: true, strict: true })
  if (positionals.length > 0) throw new UsageError('ls takes no arguments')
  const records = await new Warehouse(stateDirOf(values, io)).list()
  if (values.json === true) { io.stdout.write(JSON.stringify(records, null, 2) + '\n'); return 0 }
  const rows = [['ID', 'FORMAT', 'SIZE', 'SOURCE', 'CREATED', 'NAMES'], ...records.map(row)]
  const widths = rows[0].map((_, i) => Math.max(...rows.map(r => r[i].length)))
  for (const r of rows) io.stdout.write(r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i])).join('  ') + '\n')
  return 0
}

function row (r: ImageRecord): string[] {
  return [r.id.slice(0, 12), r.format, humanSize(r.size), r.source, r.createdAt.slice(0, 19).replace('T', ' '), r.names.join(',')]
}

export function humanSize (n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  let v = n
  while (v >= 1024 && i < units.length - 1) { v /= 1024; i++ }
  return `${i === 0 ? v : v.toFixed(1)} ${units[i]}`
}

async function build (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      ...COMMON,
      distro: { type: 'string' },
      suite: { type: 'string' },
      variant: { type: 'string' },
      packages: { type: 'string' },
      file: { type: 'string', multiple: true },
      'ssh-key': { type: 'string' },
      'root-password-hash': { type: 'string' },
      format: { type: 'string' },
      size: { type: 'string' },
      mirror: { type: 'string' },
      name: { type: 'string' },
      quiet: { type: 'boolean', default: false }
    },
    allowPositionals: true,
    strict: true
  })
  if (positionals.length > 0) throw new UsageError(`unexpected argument "${positionals[0]}"`)
  if (values.distro == null || values.suite == null || values.format == null) throw new UsageError('--distro, --suite and --format are required')
  if (!IMAGE_FORMATS.includes(values.format as ImageFormat)) throw new UsageError(`--format must be one of ${IMAGE_FORMATS.join(', ')}`)
  const files = (values.file ?? []).map(spec => {
    const i = spec.lastIndexOf(':')
    if (i <= 0 || i === spec.length - 1) throw new UsageError(`--file ${spec}: expected SRC:DEST`)
    return { src: resolve(io.cwd, spec.slice(0, i)), dest: spec.slice(i + 1) }
  })
  const stateDir = stateDirOf(values, io)
  return await guarded(io, async () => {
    const req: BuildRequest = {
      distro: values.distro as string,
      suite: values.suite as string,
      format: values.format as ImageFormat,
      ...(values.variant != null ? { variant: values.variant } : {}),
      ...(values.packages != null ? { packages: values.packages.split(',') } : {}),
      ...(files.length > 0 ? { files } : {}),
      ...(values['ssh-key'] != null ? { sshKeyFile: resolve(io.cwd, values['ssh-key']) } : {}),
      ...(values['root-password-hash'] != null ? { rootPasswordHash: values['root-password-hash'] } : {}),
      ...(values.size != null ? { sizeBytes: parseSize(values.size) } : {})
    }
    const mirror = values.mirror ?? await aptMirror()
    if (mirror == null) throw new UsageError('no Debian archive found in /etc/apt: pass --mirror URL')
    const stop = new AbortController()
    const onSignal = (): void => { stop.abort() }
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    try {
      const r = await buildImage(req, {
        stateDir,
        mirror,
        ...(values.name != null ? { name: values.name } : {}),
        signal: stop.signal,
        onProgress: values.quiet === true ? undefined : p => { io.stderr.write(`[${p.step}] ${p.line}\n`) }
      })
      io.stderr.write(`${r.cached ? 'cached' : 'built'} in ${(r.durationMs / 1000).toFixed(2)} s: ${r.record.format}, ${humanSize(r.record.size)}, names ${r.record.names.join(',')}\n`)
      io.stdout.write(`${r.record.id}\n`)
      return 0
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  })
}
