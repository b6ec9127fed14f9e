import { spawn } from 'node:child_process'
import type { ChildProcess } from 'node:child_process'
import { Writable } from 'node:stream'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { main } from '../../cli/main.ts'
import { ApiClient } from '../../node/api/client.ts'

// End-to-end helpers: a real `sdpeer join` process (spawned with this Node, which is 24 under vitest) and the CLI
// driving it. CLI commands run in-process through cli/main.ts (the same code as the binary, without a Node start-up
// per command); `sdpeerProcess` runs the real binary where the process boundary itself is under test.

export const SDPEER_JS = fileURLToPath(new URL('../../cli/sdpeer.js', import.meta.url))

export interface DaemonProcess {
  proc: ChildProcess
  api: string
  stderr: () => string
  /** Resolves with the exit code (or the signal name). */
  exited: Promise<number | string>
}

export function spawnDaemon (args: string[]): DaemonProcess {
  const proc = spawn(process.execPath, [SDPEER_JS, 'join', ...args], { stdio: ['ignore', 'pipe', 'pipe'] })
  let err = ''
  proc.stderr!.on('data', c => { err += String(c) })
  proc.stdout!.resume()
  const exited = new Promise<number | string>(resolve => proc.once('exit', (code, signal) => { resolve(code ?? signal ?? -1) }))
  const i = args.indexOf('--api')
  const sd = args.indexOf('--state-dir')
  const api = i >= 0 ? args[i + 1]! : join(args[sd + 1]!, 'api.sock')
  return { proc, api, stderr: () => err, exited }
}

/** Starts a daemon and waits until its API answers ping. */
export async function startDaemon (host: string, stateDir: string, extra: string[] = []): Promise<DaemonProcess> {
  // --insecure: these single-host tests run without a pool key or trust store (the mesh tests set both up).
  const d = spawnDaemon(['--host', host, '--state-dir', stateDir, '--driver', 'sim', '--insecure', ...extra])
  const deadline = Date.now() + 20_000
  let exitedEarly: number | string | undefined
  void d.exited.then(code => { exitedEarly = code })
  for (;;) {
    if (exitedEarly !== undefined) throw new Error(`daemon exited with ${exitedEarly}: ${d.stderr()}`)
    try {
      const c = await ApiClient.connect(d.api)
      await c.call('ping', {})
      c.close()
      return d
    } catch {
      if (Date.now() > deadline) throw new Error(`daemon did not come up: ${d.stderr()}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }
}

export interface CliRun { code: number, stdout: string, stderr: string }

function sink (): { stream: Writable, text: () => string } {
  const chunks: Buffer[] = []
  return { stream: new Writable({ write (c, _e, cb) { chunks.push(Buffer.from(c)); cb() } }), text: () => Buffer.concat(chunks).toString('utf8') }
}

/** Runs `sdpeer ARGS` in-process against the daemon at `api`; `watch` sees stdout as it is written (for --follow). */
export async function sdpeer (api: string, args: string[], cwd = process.cwd(), watch?: { stdout: () => string }): Promise<CliRun> {
  const out = sink(); const err = sink()
  if (watch) watch.stdout = out.text
  const code = await main(args, { stdout: out.stream, stderr: err.stream, env: { SDPEER_API: api }, cwd })
  return { code, stdout: out.text(), stderr: err.text() }
}

/** Runs the real `cli/sdpeer.js` binary. */
export async function sdpeerProcess (args: string[], env: Record<string, string> = {}): Promise<CliRun> {
  const p = spawn(process.execPath, [SDPEER_JS, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let stdout = ''; let stderr = ''
  p.stdout.on('data', c => { stdout += String(c) })
  p.stderr.on('data', c => { stderr += String(c) })
  const code = await new Promise<number>(resolve => p.once('exit', c => { resolve(c ?? -1) }))
  return { code, stdout, stderr }
}

/** Every file below `dir` (recursively), relative paths; [] when the dir does not exist. */
export async function filesUnder (dir: string): Promise<string[]> {
  try {
    const entries = await readdir(dir, { recursive: true, withFileTypes: true })
    return entries.filter(e => !e.isDirectory()).map(e => join(e.parentPath, e.name).slice(dir.length + 1)).sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}
