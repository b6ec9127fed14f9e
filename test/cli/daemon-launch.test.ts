import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import { afterAll, describe, expect, it } from 'vitest'
import { DAEMON_JEMALLOC_CONF, DAEMON_NODE_FLAGS, findJemalloc } from '../../cli/daemon-exec.ts'

// `sdpeer join` through the real launcher: it re-executes itself (same pid) with the daemon's node flags and
// allocator (jemalloc when the host has it, else glibc with MALLOC_ARENA_MAX), and once more when loading missed the
// compile cache (cli/daemon-exec.ts). What the running daemon was exec'd with, and which allocator it has mapped,
// is read back from /proc. .ci/run installs libjemalloc2; on a machine without it the jemalloc cases say so.
const JEMALLOC = findJemalloc()

const SDPEER = fileURLToPath(new URL('../../cli/sdpeer.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'sdpeer-launch-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

const procFile = (pid: number, f: string): string[] => readFileSync(`/proc/${pid}/${f}`, 'utf8').split('\0').filter(s => s !== '')

async function runDaemon (name: string, env: Record<string, string>): Promise<{ argv: string[], environ: string[], maps: string, stderr: string, exitCode: number | undefined }> {
  const stateDir = join(dir, name)
  const p = execa(process.execPath, [SDPEER, 'join', '--host', `${name}.cern.ch`, '--state-dir', stateDir, '--driver', 'sim', '--insecure', '--json-logs'],
    { env: { PATH: process.env.PATH ?? '', ...env }, reject: false, timeout: 60_000 })
  let stderr = ''
  const ready = new Promise<void>((resolve, reject) => {
    p.stderr!.on('data', (b: Buffer) => { stderr += b.toString(); if (stderr.includes('"daemon ready"')) resolve() })
    void p.then(() => { reject(new Error(`daemon exited before ready: ${stderr.slice(-1500)}`)) })
  })
  await ready
  // The signal handlers go in just after the "daemon ready" line: a SIGTERM in between would kill it outright.
  await new Promise(resolve => setTimeout(resolve, 300))
  const argv = procFile(p.pid!, 'cmdline')
  const environ = procFile(p.pid!, 'environ')
  const maps = readFileSync(`/proc/${p.pid!}/maps`, 'utf8')
  p.kill('SIGTERM')
  const r = await p
  return { argv, environ, maps, stderr, exitCode: r.exitCode }
}

describe('sdpeer join process', () => {
  const tunedLine = (stderr: string): { allocator: string, nodeFlags: string[] } =>
    JSON.parse(stderr.split('\n').find(l => l.includes('"daemon tuned"'))!) as { allocator: string, nodeFlags: string[] }

  it('runs the daemon in the started process, re-executed with the daemon flags, on jemalloc', async () => {
    expect(JEMALLOC, 'jemalloc is not installed (Debian: apt-get install libjemalloc2; .ci/run does)').toBeDefined()
    const r = await runDaemon('warm', {})
    const nodeFlags = r.argv.slice(1, r.argv.indexOf(SDPEER))
    expect(nodeFlags.slice(-DAEMON_NODE_FLAGS.length)).toEqual(DAEMON_NODE_FLAGS)
    expect(r.argv.slice(r.argv.indexOf(SDPEER))).toEqual(expect.arrayContaining(['join', '--host', 'warm.cern.ch']))
    expect(r.environ).toEqual(expect.arrayContaining([`LD_PRELOAD=${JEMALLOC!}`, `MALLOC_CONF=${DAEMON_JEMALLOC_CONF}`]))
    expect(r.environ.some(e => e.startsWith('MALLOC_ARENA_MAX='))).toBe(false)
    expect(r.maps).toContain(JEMALLOC!)
    expect(tunedLine(r.stderr)).toEqual({ ...tunedLine(r.stderr), allocator: 'jemalloc' })
    expect(tunedLine(r.stderr).nodeFlags).toEqual(expect.arrayContaining([...DAEMON_NODE_FLAGS]))
    expect(r.environ.some(e => /^SDPEER_DAEMON_STAGE=(tuned|recompiled)$/.test(e))).toBe(true)
    expect(r.exitCode).toBe(0)
    expect(r.stderr).toContain('"stopped"')
  })

  it('keeps glibc, with MALLOC_ARENA_MAX=2, when SDPEER_MALLOC=glibc', async () => {
    const r = await runDaemon('glibc', { SDPEER_MALLOC: 'glibc' })
    expect(r.environ).toContain('MALLOC_ARENA_MAX=2')
    expect(r.environ.some(e => e.startsWith('LD_PRELOAD='))).toBe(false)
    expect(r.maps).not.toMatch(/libjemalloc/)
    expect(tunedLine(r.stderr).allocator).toBe('glibc')
    expect(r.exitCode).toBe(0)
  })

  it('keeps a MALLOC_ARENA_MAX the user set, and glibc with it', async () => {
    const r = await runDaemon('arena', { MALLOC_ARENA_MAX: '4' })
    expect(r.environ).toContain('MALLOC_ARENA_MAX=4')
    expect(r.maps).not.toMatch(/libjemalloc/)
    expect(r.exitCode).toBe(0)
  })

  it('re-executes once more after a cold compile cache, then runs, still on jemalloc', async () => {
    expect(JEMALLOC, 'jemalloc is not installed (Debian: apt-get install libjemalloc2; .ci/run does)').toBeDefined()
    const r = await runDaemon('cold', { NODE_COMPILE_CACHE: join(dir, 'cache') })
    expect(r.environ).toContain('SDPEER_DAEMON_STAGE=recompiled')
    expect(r.maps).toContain(JEMALLOC!)
    expect(tunedLine(r.stderr).allocator).toBe('jemalloc')
    expect(r.exitCode).toBe(0)
  }, 120_000)

  it('prints its usage for --help without starting anything', async () => {
    const r = await execa(process.execPath, [SDPEER, 'join', '--help'], { reject: false, timeout: 60_000 })
    expect(r.exitCode).toBe(0)
    expect(String(r.stdout)).toMatch(/^sdpeer join --host NAME/)
    expect(String(r.stdout)).toContain('MALLOC_ARENA_MAX')
    expect(String(r.stdout)).toContain('libjemalloc2')
  })
})
