import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { ExecaShell } from '../../node/seams/execa-shell.ts'
import type { ExecaShellOptions } from '../../node/seams/execa-shell.ts'
import { ShellCommandError } from '../../node/seams/shell.ts'
import type { Shell, ShellCommand, ShellResult } from '../../node/seams/shell.ts'

// Real tools on real files in a temp dir, plus a Shell wrapper that records every argv so tests can pin command lines.

export class RecordingShell implements Shell {
  readonly calls: string[][] = []
  readonly log: string[] = []
  /** Makes the matching command fail as if the tool had exited 8 (an operational error for most tools: e2fsck's 1 means "fixed"). */
  failOn: ((argv: string[]) => boolean) | undefined
  readonly #inner: Shell
  constructor (options: ExecaShellOptions = {}) {
    this.#inner = new ExecaShell({ ...options, log: l => this.log.push(l) })
  }

  run (cmd: ShellCommand): Promise<ShellResult> {
    const argv = [cmd.file, ...cmd.args]
    this.calls.push(argv)
    if (this.failOn?.(argv) === true) return Promise.reject(new ShellCommandError(argv, 8, 'injected failure', 'exit code 8'))
    return this.#inner.run(cmd)
  }
}

export async function tempDir (prefix: string): Promise<string> {
  return await mkdtemp(join(tmpdir(), `sdpeer-${prefix}-`))
}

export async function cleanup (dir: string | undefined): Promise<void> {
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
}

/** A small guest tree: /etc/hostname, a nested file, a symlink. */
export async function guestTree (dir: string, hostname = 'guest1'): Promise<string> {
  await mkdir(join(dir, 'etc'), { recursive: true })
  await mkdir(join(dir, 'var/lib/app'), { recursive: true })
  await writeFile(join(dir, 'etc/hostname'), `${hostname}\n`)
  await writeFile(join(dir, 'var/lib/app/data.txt'), 'payload 42\n')
  await execa('ln', ['-s', '/etc/hostname', join(dir, 'etc/hostname.link')])
  return dir
}

/** Reads a file out of an unmounted ext4 image (debugfs cat). */
export async function catFromExt4 (image: string, path: string): Promise<string> {
  const r = await execa('debugfs', ['-R', `cat ${path}`, image])
  return r.stdout
}

/** Block count of an ext4 file system, from dumpe2fs. */
export async function ext4Blocks (image: string): Promise<{ count: number, size: number }> {
  const r = await execa('dumpe2fs', ['-h', image])
  const count = Number(/^Block count:\s+(\d+)/m.exec(r.stdout)?.[1])
  const size = Number(/^Block size:\s+(\d+)/m.exec(r.stdout)?.[1])
  return { count, size }
}

/** Allocated bytes (st_blocks * 512): how sparse a file is. */
export async function allocated (path: string): Promise<number> {
  return (await stat(path)).blocks * 512
}

export async function hasSwapSignature (path: string): Promise<boolean> {
  const r = await execa('blkid', ['-p', '-o', 'value', '-s', 'TYPE', path], { reject: false })
  return r.stdout.trim() === 'swap'
}

/** Lists a tarball's members (without leading ./). */
export async function tarMembers (tarball: string): Promise<string[]> {
  const r = await execa('tar', ['-tf', tarball])
  return r.stdout.split('\n').filter(l => l !== '').map(l => l.replace(/^\.\//, '').replace(/\/$/, ''))
}

export async function tarCat (tarball: string, member: string): Promise<string> {
  const r = await execa('tar', ['-xOf', tarball, `./${member}`])
  return r.stdout
}

export async function exists (path: string): Promise<boolean> {
  return await stat(path).then(() => true, () => false)
}
