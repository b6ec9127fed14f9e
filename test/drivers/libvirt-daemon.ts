import { access, mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { delimiter, join } from 'node:path'
import { execa } from 'execa'

// A private libvirtd for the tests: session mode (qemu:///session), everything under one temp dir (config, socket,
// domain definitions, qemu logs), started here and stopped by stop(). Session mode because the system instance
// (qemu:///system) needs libvirt-daemon-system's libvirt-qemu user and /etc/libvirt/qemu.conf, and keeps its state
// in fixed machine-wide paths (/run/libvirt, /etc/libvirt/qemu, a driver lock) that allow one instance per host:
// it would fight a host's own libvirtd and a second test run. libvirtd picks session mode when it does not run as
// uid 0, so as root it runs in a user namespace as uid 1000 mapped to root outside: the files it and its qemu
// create are root's, it reads the test guest and writes the driver's state dir like the root test process does.

export interface LibvirtDaemon {
  /** The connection URI for virsh and the driver (its socket is this daemon's). */
  uri: string
  virsh: string
  dir: string
  /** Destroys and undefines what a failed test left, then ends libvirtd and removes its directory. */
  stop: () => Promise<void>
}

export class LibvirtUnavailableError extends Error {
  override readonly name = 'LibvirtUnavailableError'
}

const INSTALL = 'install libvirt-daemon libvirt-daemon-driver-qemu libvirt-clients (as .ci/run does)'

async function which (program: string): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? '').split(delimiter), '/usr/sbin', '/usr/local/sbin', '/sbin']
  for (const dir of dirs.filter(d => d !== '')) {
    const path = join(dir, program)
    if (await access(path).then(() => true, () => false)) return path
  }
  return undefined
}

export async function startLibvirtd (options: { readyTimeoutMs?: number } = {}): Promise<LibvirtDaemon> {
  const libvirtd = await which('libvirtd')
  const virsh = await which('virsh')
  if (libvirtd === undefined || virsh === undefined) {
    throw new LibvirtUnavailableError(`libvirt is not installed here (${libvirtd === undefined ? 'no libvirtd' : 'no virsh'} on PATH or in /usr/sbin): ${INSTALL}`)
  }
  const dir = await mkdtemp(join(tmpdir(), 'sdpeer-libvirtd-'))
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin', LC_ALL: 'C', HOME: join(dir, 'home'),
    XDG_RUNTIME_DIR: join(dir, 'run'), XDG_CONFIG_HOME: join(dir, 'config'), XDG_CACHE_HOME: join(dir, 'cache')
  }
  await mkdir(env.XDG_RUNTIME_DIR, { recursive: true, mode: 0o700 })
  await mkdir(join(env.XDG_CONFIG_HOME, 'libvirt'), { recursive: true })
  await mkdir(env.HOME, { recursive: true })
  // qemu's stdout/stderr to plain files: the default ("logd") autostarts a virtlogd that outlives this daemon.
  await writeFile(join(env.XDG_CONFIG_HOME, 'libvirt', 'qemu.conf'), 'stdio_handler = "file"\n')
  const uri = `qemu:///session?socket=${join(env.XDG_RUNTIME_DIR, 'libvirt', 'libvirt-sock')}`
  const logPath = join(dir, 'libvirtd.log')
  // --timeout: should this process die without stop(), the daemon ends itself once idle (no client, no domain).
  const argv = [libvirtd, '--timeout', '600']
  const root = process.getuid?.() === 0
  const daemon = execa(root ? 'unshare' : argv[0]!, root ? ['--user', '--map-user=1000', '--map-group=1000', ...argv] : argv.slice(1), {
    env, extendEnv: false, stdin: 'ignore', stdout: { file: logPath, append: true }, stderr: { file: logPath, append: true }, reject: false
  })
  let exited = false
  void daemon.finally(() => { exited = true })
  const logTail = async (): Promise<string> => (await readFile(logPath, 'utf8').catch(() => '')).trim().split('\n').slice(-5).join(' | ')

  const stop = async (): Promise<void> => {
    if (!exited) {
      const names = await execa(virsh, ['-c', uri, 'list', '--all', '--name'], { reject: false, timeout: 10_000 })
      for (const name of String(names.stdout).split('\n').map(l => l.trim()).filter(l => l !== '')) {
        await execa(virsh, ['-c', uri, 'destroy', name], { reject: false, timeout: 10_000 })
        await execa(virsh, ['-c', uri, 'undefine', name], { reject: false, timeout: 10_000 })
      }
      daemon.kill('SIGTERM')
      const killer = setTimeout(() => daemon.kill('SIGKILL'), 10_000)
      await daemon
      clearTimeout(killer)
    }
    await rm(dir, { recursive: true, force: true })
  }

  const deadline = performance.now() + (options.readyTimeoutMs ?? 30_000)
  for (;;) {
    const probe = await execa(virsh, ['-c', uri, 'version'], { reject: false, timeout: 10_000, env: { LC_ALL: 'C' } })
    if (probe.exitCode === 0 && /Running hypervisor: QEMU/.test(String(probe.stdout))) break
    if (exited || performance.now() > deadline) {
      const why = exited ? `libvirtd exited (${(await daemon).exitCode ?? (await daemon).signal})` : 'libvirtd did not answer in time'
      const detail = `${why}; virsh version: ${String(probe.stderr).trim() || String(probe.stdout).trim()}; libvirtd log: ${await logTail()}`
      await stop()
      throw new LibvirtUnavailableError(`cannot run a private libvirtd here: ${detail}`)
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return { uri, virsh, dir, stop }
}
