import { chmod, mkdir, open, readFile, rm, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { execa } from 'execa'
import { ImageBuildError, ImageParamsError } from './errors.ts'
import { FSTAB, INIT_PATH, INIT_SCRIPT } from './guest-files.ts'
import { defaultName, imageIdOf, normaliseBuild } from './params.ts'
import type { BuildParams, BuildRequest } from './params.ts'
import { Warehouse } from './warehouse.ts'
import type { ImageRecord } from './warehouse.ts'

// The image builder: debootstrap into a temp directory of the warehouse, customise (files, ssh key, root password,
// fstab, the boot hook), then pack (tar.gz, or an ext4 disk made by mke2fs -d, converted to qcow2 when asked) and
// move the result in. The id is known before any work, so a build whose id exists returns at once. Every command
// runs through execa with an argument array; a failed or aborted build removes its temp directory and leaves no
// record, so the warehouse never holds half an image.

export interface BuildProgress { step: string, line: string }

export interface BuildOptions {
  stateDir: string
  /** Debian archive URL; the CLI defaults it to what this machine's apt uses. */
  mirror: string
  name?: string
  onProgress?: (p: BuildProgress) => void
  signal?: AbortSignal
  /** Per external command (debootstrap downloads a few hundred packages). Default 30 min. */
  timeoutMs?: number
}

export interface BuildResult { record: ImageRecord, cached: boolean, durationMs: number }

export async function buildImage (req: BuildRequest, options: BuildOptions): Promise<BuildResult> {
  const started = performance.now()
  const params = await normaliseBuild(req)
  if (!/^(https?|file):\/\/[^\s]+$/.test(options.mirror)) throw new ImageParamsError('mirror', `"${options.mirror}" is not an http(s) or file URL`)
  const id = imageIdOf(params)
  const warehouse = new Warehouse(options.stateDir)
  const names = [options.name ?? defaultName(params)]
  if (await warehouse.has(id)) {
    let record = await warehouse.get(id)
    for (const n of names) if (!record.names.includes(n)) record = await warehouse.setName(id, n)
    return { record, cached: true, durationMs: performance.now() - started }
  }
  const work = await warehouse.makeTmp(`build-${id.slice(0, 12)}`)
  const progress = options.onProgress ?? (() => {})
  const step = async (name: string, file: string, args: string[]): Promise<void> => {
    await runStreaming(id, name, file, args, { onLine: line => progress({ step: name, line }), signal: options.signal, timeoutMs: options.timeoutMs ?? 30 * 60_000 })
  }
  try {
    const root = join(work, 'root')
    await mkdir(root)
    progress({ step: 'debootstrap', line: `${params.distro} ${params.suite} (${params.variant}) from ${options.mirror}` })
    await step('debootstrap', 'debootstrap', debootstrapArgs(params, root, options.mirror))
    progress({ step: 'customise', line: 'fstab, boot hook, files, credentials' })
    await customise(id, root, req)
    const out = join(work, `image.${params.format}`)
    await pack(params, root, out, work, step)
    progress({ step: 'install', line: `into ${warehouse.dir}` })
    const record = await warehouse.add(id, out, { format: params.format, params, source: 'build', names, move: true })
    return { record, cached: false, durationMs: performance.now() - started }
  } catch (err) {
    if (err instanceof ImageBuildError) throw err
    throw new ImageBuildError(id, 'build', (err as Error).message, { cause: err })
  } finally {
    await rm(work, { recursive: true, force: true })
  }
}

export function debootstrapArgs (p: BuildParams, root: string, mirror: string): string[] {
  return [
    ...(p.variant !== 'standard' ? [`--variant=${p.variant}`] : []),
    ...(p.packages.length > 0 ? [`--include=${p.packages.join(',')}`] : []),
    '--components=main',
    // debootstrap takes no `--`: the suite is checked against a name pattern and the mirror must be a URL, so
    // neither can pass for an option.
    p.suite,
    root,
    mirror
  ]
}

/** The argument arrays of the packing step, by format (pinned by the tests). */
export function packCommands (p: BuildParams, root: string, out: string, work: string): Array<{ step: string, file: string, args: string[] }> {
  if (p.format === 'tar.gz') return [{ step: 'pack', file: 'tar', args: ['--numeric-owner', '-C', root, '-czf', out, '.'] }]
  const raw = p.format === 'raw' ? out : join(work, 'image.raw')
  const cmds = [{ step: 'mkfs', file: 'mke2fs', args: ['-F', '-q', '-t', 'ext4', '-L', 'sdpeer-root', '-d', root, raw] }]
  if (p.format === 'qcow2') cmds.push({ step: 'convert', file: 'qemu-img', args: ['convert', '-f', 'raw', '-O', 'qcow2', raw, out] })
  return cmds
}

async function pack (p: BuildParams, root: string, out: string, work: string, step: (n: string, f: string, a: string[]) => Promise<void>): Promise<void> {
  if (p.format !== 'tar.gz') {
    // A sparse file of the asked size: mke2fs fills it from the tree without mounting anything.
    const raw = p.format === 'raw' ? out : join(work, 'image.raw')
    const fh = await open(raw, 'w')
    try { await fh.truncate(p.sizeBytes ?? 0) } finally { await fh.close() }
  }
  for (const c of packCommands(p, root, out, work)) await step(c.step, c.file, c.args)
}

async function customise (id: string, root: string, req: BuildRequest): Promise<void> {
  try {
    await writeFile(join(root, 'etc/fstab'), FSTAB)
    await writeFile(join(root, 'etc/hostname'), 'localhost\n')
    await mkdir(join(root, dirname(INIT_PATH).slice(1)), { recursive: true })
    await writeFile(join(root, INIT_PATH.slice(1)), INIT_SCRIPT)
    await chmod(join(root, INIT_PATH.slice(1)), 0o755)
    for (const f of req.files ?? []) {
      const dest = join(root, f.dest.slice(1))
      await mkdir(dirname(dest), { recursive: true })
      await writeFile(dest, await readFile(f.src))
    }
    if (req.sshKeyFile != null) {
      await mkdir(join(root, 'root/.ssh'), { recursive: true, mode: 0o700 })
      await writeFile(join(root, 'root/.ssh/authorized_keys'), await readFile(req.sshKeyFile), { mode: 0o600 })
    }
    if (req.rootPasswordHash != null) await setRootPassword(join(root, 'etc/shadow'), req.rootPasswordHash)
    // Package caches are not part of the image: smaller files to store and to send across the mesh.
    await rm(join(root, 'var/cache/apt/archives'), { recursive: true, force: true })
    await mkdir(join(root, 'var/cache/apt/archives/partial'), { recursive: true })
    await rm(join(root, 'var/lib/apt/lists'), { recursive: true, force: true })
    await mkdir(join(root, 'var/lib/apt/lists/partial'), { recursive: true })
  } catch (err) {
    throw new ImageBuildError(id, 'customise', (err as Error).message, { cause: err })
  }
}

/** Replaces root's password field in /etc/shadow (edited as text: no chpasswd, so the hash never meets a shell). */
export async function setRootPassword (shadowPath: string, hash: string): Promise<void> {
  const lines = (await readFile(shadowPath, 'utf8')).split('\n')
  const i = lines.findIndex(l => l.startsWith('root:'))
  if (i < 0) throw new Error('no root entry in /etc/shadow')
  const fields = lines[i].split(':')
  fields[1] = hash
  lines[i] = fields.join(':')
  await writeFile(shadowPath, lines.join('\n'), { mode: 0o640 })
}

async function runStreaming (id: string, step: string, file: string, args: string[], o: { onLine: (l: string) => void, signal?: AbortSignal, timeoutMs: number }): Promise<void> {
  if (o.signal?.aborted === true) throw new ImageBuildError(id, step, `${file} aborted before it started`)
  // Its own process group: debootstrap's children (wget, dpkg, chroot'd scripts) hold the output pipes, so an
  // abort or timeout must stop all of them, not only the direct child.
  const sub = execa(file, args, {
    shell: false,
    all: true,
    buffer: false,
    reject: false,
    stdin: 'ignore',
    detached: true,
    env: { DEBIAN_FRONTEND: 'noninteractive', LC_ALL: 'C' }
  })
  let why: string | undefined
  const stop = (reason: string): void => {
    why ??= reason
    try { if (sub.pid != null) process.kill(-sub.pid, 'SIGTERM') } catch {}
    setTimeout(() => { try { if (sub.pid != null) process.kill(-sub.pid, 'SIGKILL') } catch {} }, 2_000).unref()
    sub.all?.destroy()
  }
  const onAbort = (): void => { stop('aborted') }
  o.signal?.addEventListener('abort', onAbort, { once: true })
  const timer = setTimeout(() => { stop(`timed out after ${o.timeoutMs} ms`) }, o.timeoutMs)
  const tail: string[] = []
  try {
    for await (const line of sub.iterable({ from: 'all' })) {
      const text = String(line)
      tail.push(text)
      if (tail.length > 5) tail.shift()
      o.onLine(text)
    }
  } catch (err) {
    if (why == null) throw err
  } finally {
    clearTimeout(timer)
    o.signal?.removeEventListener('abort', onAbort)
  }
  const r = await sub
  if (why == null && r.exitCode === 0) return
  why ??= r.exitCode !== undefined ? `exit code ${r.exitCode}` : (r.signal ?? r.originalMessage ?? 'could not start')
  throw new ImageBuildError(id, step, `${file} ${why}${tail.length > 0 ? `: ${tail.join(' | ')}` : ''}`)
}
