import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { startDaemon } from '../../node/daemon/daemon.ts'
import type { Daemon } from '../../node/daemon/daemon.ts'
import { runEvents } from '../../cli/commands/events.ts'
import { main } from '../../cli/main.ts'
import { sdpeer } from '../e2e/harness.ts'
import { quietLog, workDir } from './fixture.ts'

// `sdpeer events`, `sdpeer console` and `join --console` options, against a real daemon in this process.

let dir: string
let poolFile: string
let daemon: Daemon

function sink (): Writable & { text: () => string } {
  let t = ''
  const w = new Writable({ write (c, _e, cb) { t += String(c); cb() } }) as Writable & { text: () => string }
  w.text = () => t
  return w
}

async function run (args: string[], env: Record<string, string> = {}): Promise<{ code: number, stdout: string, stderr: string }> {
  const out = sink(); const err = sink()
  const code = await main(args, { stdout: out, stderr: err, env, cwd: dir })
  return { code, stdout: out.text(), stderr: err.text() }
}

beforeAll(async () => {
  ({ dir, pool: poolFile } = await workDir('console-cli'))
  daemon = await startDaemon({ host: 'h1', stateDir: join(dir, 'state'), driver: 'sim', insecure: true, logStream: quietLog() })
})

afterAll(async () => {
  await daemon?.stop()
  await rm(dir, { recursive: true, force: true })
})

describe('sdpeer events', () => {
  it('prints the current states, then with --follow every event until stopped', async () => {
    expect((await sdpeer(daemon.apiPath, ['events'])).stdout).toBe('')
    const out = sink()
    const stop = new AbortController()
    expect((await sdpeer(daemon.apiPath, ['deploy', poolFile, '--name', 'pre', '--wait'])).code).toBe(0)
    const following = runEvents(['--follow', '--json'], { stdout: out, stderr: sink(), env: { SDPEER_API: daemon.apiPath }, cwd: dir }, stop.signal)
    // The snapshot is answered after the subscription is in place (one connection, requests handled in order).
    for (let i = 0; i < 200 && !out.text().includes('"pool":"pre"'); i++) await new Promise(resolve => setTimeout(resolve, 10))
    const snapshot0 = out.text().trim().split('\n').map(l => JSON.parse(l) as { pool: string, state: string })
    expect(snapshot0.map(e => `${e.pool}=${e.state}`)).toEqual(['pre=running', 'pre=running', 'pre=running'])
    expect((await sdpeer(daemon.apiPath, ['deploy', poolFile, '--name', 'ev', '--wait'])).code).toBe(0)
    expect((await sdpeer(daemon.apiPath, ['set', 'ev:vm1', 'memory', '80'])).code).toBe(0)
    for (let i = 0; i < 200 && !out.text().includes('memory = 80'); i++) await new Promise(resolve => setTimeout(resolve, 10))
    stop.abort()
    expect(await following).toBe(0)
    const events = out.text().trim().split('\n').map(l => JSON.parse(l) as { pool: string, path: string, kind: string, state?: string, message: string }).slice(3)
    expect(events.every(e => e.pool === 'ev')).toBe(true)
    expect(events.some(e => e.path === '' && e.state === 'running')).toBe(true)
    expect(events.some(e => e.path === 'vm1' && e.kind === 'attribute' && e.message === 'memory = 80')).toBe(true)
    const runningAt = events.findIndex(e => e.path === '' && e.state === 'running')
    const deployedAt = events.findIndex(e => e.path === 'vm1' && e.state === 'deployed')
    expect(deployedAt).toBeGreaterThanOrEqual(0)
    expect(deployedAt).toBeLessThan(runningAt)

    const snapshot = await sdpeer(daemon.apiPath, ['events', 'ev'])
    expect(snapshot.code).toBe(0)
    const lines = snapshot.stdout.trim().split('\n')
    expect(lines).toHaveLength(3)
    expect(lines.find(l => / h1 {2}ev:vm1 {2}running$/.test(l))).toBeDefined()
    expect(lines.every(l => /^\d\d:\d\d:\d\d\.\d{3} {2}h1 {2}ev/.test(l))).toBe(true)
    expect((await sdpeer(daemon.apiPath, ['terminate', 'ev'])).code).toBe(0)
    expect((await sdpeer(daemon.apiPath, ['terminate', 'pre'])).code).toBe(0)
  })

  it('refuses a bad pool name and says when no daemon answers', async () => {
    expect((await sdpeer(daemon.apiPath, ['events', '../x'])).code).toBe(2)
    const none = await run(['events'], { SDPEER_API: join(dir, 'nope.sock') })
    expect(none.code).toBe(1)
    expect(none.stderr).toContain('no sdpeer daemon at')
  })
})

describe('sdpeer deploy --wait', () => {
  it('redraws per-component progress on a terminal and ends with the outcome', async () => {
    const out = sink() as ReturnType<typeof sink> & { isTTY?: boolean }
    out.isTTY = true
    const code = await main(['deploy', poolFile, '--name', 'tty', '--wait'], { stdout: out, stderr: sink(), env: { SDPEER_API: daemon.apiPath }, cwd: dir })
    expect(code).toBe(0)
    const text = out.text()
    expect(text).toMatch(/\x1b\[\dF/)
    expect(text).toContain('\x1b[2K  ✓ vm1 ')
    expect(text).toMatch(/\npool tty running after \d+\.\d s \(3 components\)\n/)
    expect(text).toContain('COMPONENT  TYPE')
    expect((await sdpeer(daemon.apiPath, ['terminate', 'tty'])).code).toBe(0)
  })

  it('ends a failed deploy with its outcome too', async () => {
    const { writeFile } = await import('node:fs/promises')
    const failing = join(dir, 'failing.sf')
    await writeFile(failing, (await readFile(poolFile, 'utf8')).replace('memory 64;', 'memory 64; simStartFail "no hypervisor today";'))
    const r = await sdpeer(daemon.apiPath, ['deploy', failing, '--name', 'bad', '--wait'])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/pool bad not deployed \(\d+\.\d s\)\n$/)
    expect(r.stderr).toContain('no hypervisor today')
  })
})

describe('sdpeer console', () => {
  it('says so when no console runs for the state dir', async () => {
    const r = await run(['console', '--state-dir', join(dir, 'state')])
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('no console runs for')
    expect((await run(['console'])).code).toBe(2)
  })

  it('serves /metrics without the token only with --metrics-public, and reports a stale URL file', async () => {
    const sd = join(dir, 'state2')
    const d = await startDaemon({ host: 'h2', stateDir: sd, driver: 'sim', insecure: true, console: { listen: '127.0.0.1:0', metricsPublic: true }, logStream: quietLog() })
    try {
      expect((await fetch(d.consoleUrl + 'metrics')).status).toBe(200)
      expect((await fetch(d.consoleUrl!)).status).toBe(401)
      const r = await run(['console', '--state-dir', sd])
      expect(r.stdout).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=/)
    } finally {
      await d.stop()
    }
    await expect(stat(join(sd, 'console.url'))).rejects.toThrow(/ENOENT/)
    // A daemon killed outright leaves its URL file: the command checks that something answers there.
    const { writeFile } = await import('node:fs/promises')
    await writeFile(join(sd, 'console.url'), 'http://127.0.0.1:1/\n')
    const stale = await run(['console', '--state-dir', sd])
    expect(stale.code).toBe(1)
    expect(stale.stderr).toContain('nothing answers at http://127.0.0.1:1/')
  })
})

describe('join --console', () => {
  it('refuses a non-loopback address without --console-public, before starting anything', async () => {
    const sd = join(dir, 'state3')
    const r = await run(['join', '--host', 'h3', '--state-dir', sd, '--driver', 'sim', '--console', '0.0.0.0:0'])
    expect(r.code).toBe(2)
    expect(r.stderr).toContain('--console-public')
    await expect(stat(sd)).rejects.toThrow(/ENOENT/)
    expect((await run(['join', '--host', 'h3', '--state-dir', sd, '--driver', 'sim', '--metrics-public'])).code).toBe(2)
  })

  it('a daemon whose console cannot start does not start, and leaves the state dir free', async () => {
    const sd = join(dir, 'state4')
    await expect(startDaemon({ host: 'h4', stateDir: sd, driver: 'sim', insecure: true, console: { listen: '10.0.0.1:0' }, logStream: quietLog() }))
      .rejects.toThrow(/ConsoleConfigError|--console-public/)
    const again = await startDaemon({ host: 'h4', stateDir: sd, driver: 'sim', insecure: true, logStream: quietLog() })
    await again.stop()
    expect(await readFile(join(sd, 'daemon.json'), 'utf8')).toContain('h4')
  })
})
