import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFile, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { startDaemon } from '../../node/daemon/daemon.ts'
import type { Daemon } from '../../node/daemon/daemon.ts'
import { csrfFor } from '../../node/api/console/token.ts'
import { sdpeer } from '../e2e/harness.ts'
import { main } from '../../cli/main.ts'
import { HOSTILE, quietLog, readEvents, workDir } from './fixture.ts'
import { valueOf } from './prom-parser.ts'
import { parseMetrics } from './prom-reference.ts'

// The console over real HTTP against a real daemon (in this process: sim driver, real engine and control API).

let dir: string
let poolFile: string
let stateDir: string
let daemon: Daemon
let base: string
let token: string
let cookie: string
let csrf: string

async function cli (args: string[]): Promise<{ code: number, stdout: string, stderr: string }> {
  return await sdpeer(daemon.apiPath, args)
}

async function post (path: string, body: unknown, headers: Record<string, string> = {}): Promise<Response> {
  return await fetch(base + path.slice(1), {
    method: 'POST',
    headers: { cookie, 'content-type': 'application/json', 'x-sdpeer-csrf': csrf, ...headers },
    body: JSON.stringify(body)
  })
}

beforeAll(async () => {
  ({ dir, pool: poolFile } = await workDir('console'))
  stateDir = join(dir, 'state')
  daemon = await startDaemon({ host: 'h1', stateDir, driver: 'sim', insecure: true, console: { listen: '127.0.0.1:0' }, logStream: quietLog() })
  base = daemon.consoleUrl!
  token = (await readFile(join(stateDir, 'console.token'), 'utf8')).trim()
  cookie = `sdpeer_console_${new URL(base).port}=${token}`
  csrf = csrfFor(token)
  const dep = await cli(['deploy', poolFile, '--name', 'web', '--wait'])
  expect(dep.stderr).toBe('')
  expect(dep.code).toBe(0)
})

afterAll(async () => {
  await daemon?.stop()
  await rm(dir, { recursive: true, force: true })
})

describe('console access', () => {
  it('keeps its token in the state dir, mode 0600, and writes its URL there', async () => {
    expect(token).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect((await stat(join(stateDir, 'console.token'))).mode & 0o777).toBe(0o600)
    expect((await readFile(join(stateDir, 'console.url'), 'utf8')).trim()).toBe(base)
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
  })

  it('refuses every request without the token', async () => {
    for (const p of ['', 'hosts', 'pool?name=web', 'metrics', 'events', 'static/console.js', 'api/status']) {
      const r = await fetch(base + p, { redirect: 'manual' })
      expect(r.status, p).toBe(401)
      await r.text()
    }
    const wrong = await fetch(`${base}?token=${'A'.repeat(43)}`, { redirect: 'manual' })
    expect(wrong.status).toBe(401)
    const wrongCookie = await fetch(base, { headers: { cookie: `sdpeer_console_${new URL(base).port}=nope` } })
    expect(wrongCookie.status).toBe(401)
  })

  it('trades ?token= for an HttpOnly SameSite=Strict cookie and drops it from the address', async () => {
    const r = await fetch(`${base}pool?name=web&token=${token}`, { redirect: 'manual' })
    expect(r.status).toBe(303)
    expect(r.headers.get('location')).toBe('/pool?name=web')
    const set = r.headers.get('set-cookie') ?? ''
    expect(set).toContain(`sdpeer_console_${new URL(base).port}=${token}`)
    expect(set).toMatch(/HttpOnly/)
    expect(set).toMatch(/SameSite=Strict/)
    // A cookie of another console on this machine (another port) is not this one's.
    expect((await fetch(base, { headers: { cookie: `sdpeer_console_1=${token}` } })).status).toBe(401)
    const page = await fetch(base + 'pool?name=web', { headers: { cookie } })
    expect(page.status).toBe(200)
    expect(page.headers.get('content-security-policy')).toContain("script-src 'self'")
  })

  it('`sdpeer console` prints the URL with the token, and that URL logs in', async () => {
    const out = await main(['console', '--state-dir', stateDir], { stdout: sinkOf(), stderr: sinkOf(), env: {}, cwd: '/' })
    expect(out).toBe(0)
    const viaApi = await cli(['console'])
    expect(viaApi.code).toBe(0)
    expect(viaApi.stdout.trim()).toBe(`${base}?token=${token}`)
    const r = await fetch(viaApi.stdout.trim(), { redirect: 'manual' })
    expect(r.status).toBe(303)
  })
})

function sinkOf (): NodeJS.WritableStream {
  return new Writable({ write (_c, _e, cb) { cb() } })
}

describe('console views', () => {
  async function get (path: string): Promise<string> {
    const r = await fetch(base + path, { headers: { cookie } })
    expect(r.status, path).toBe(200)
    return await r.text()
  }

  it('lists the pool and shows its tree with hosts, states and attributes, hostile values as text', async () => {
    const list = await get('')
    expect(list).toContain('href="/pool?name=web"')
    const tree = await get('pool?name=web')
    expect(tree).toContain('href="/component?pool=web&amp;path=vm1"')
    expect(tree).toMatch(/data-pool="web" data-path="vm1">running</)
    expect(tree).toContain('<span class="hostname">h1</span>')
    expect(tree).toContain('<code>&quot;guest-one&quot;</code>')
    expect(tree).not.toContain('<script>alert(1)')
    expect(tree).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; \\&quot;q\\&quot;')
  })

  it('shows a component\'s attribute table with modify forms, terminate buttons, ping and its log', async () => {
    const page = await get('component?pool=web&path=vm1')
    expect(page).toContain('<tr data-attr="memory"><th scope="row">memory</th>')
    expect(page).toContain('value="64"')
    expect(page).toContain('data-type="abnormal"')
    expect(page).toContain('Terminates <strong>vm1</strong> and its children')
    expect(page).toContain('class="act-ping"')
    expect(page).toContain('Log and serial console')
    expect(page).toMatch(/<pre class="logs"[^>]*>[^<]*domain web-vm1/)
    const root = await get('component?pool=web&path=')
    expect(root).not.toContain('and its children')
    expect(root).not.toContain('<tr data-attr="vm1">')
  })

  it('shows this host with its load, capacity and the guest names and addresses in use', async () => {
    const hosts = await get('hosts')
    expect(hosts).toMatch(/<td>h1<\/td><td><span class="state h-alive">alive<\/span><\/td><td>1 domain, 64 MiB, 1 vCPU<\/td>/)
    expect(hosts).toContain('<td>guest-one</td>')
    expect(hosts).toContain('<td>10.0.9.1</td>')
    expect(hosts).toContain('<td>sim</td>')
    expect(await get('images')).toContain('The image warehouse is empty.')
  })

  it('answers an unknown pool or component with 404 and an invalid name with 400', async () => {
    expect((await fetch(base + 'pool?name=nope', { headers: { cookie } })).status).toBe(404)
    expect((await fetch(base + 'component?pool=web&path=zz', { headers: { cookie } })).status).toBe(404)
    const bad = await fetch(base + 'pool?name=%3Cb%3E', { headers: { cookie } })
    expect(bad.status).toBe(400)
    expect(await bad.text()).not.toContain('<b>')
  })

  it('says "unknown" for the ping of a guest without a forwarded port', async () => {
    const r = await fetch(base + 'api/ping?pool=web&path=vm1', { headers: { cookie } })
    expect(await r.json()).toMatchObject({ status: 'unknown' })
  })
})

describe('console actions', () => {
  it('refuses a POST without the CSRF header, from another origin, or not JSON; GET changes nothing', async () => {
    expect((await post('/api/set', { pool: 'web', path: 'vm1', attr: 'memory', value: '99' }, { 'x-sdpeer-csrf': 'x' })).status).toBe(403)
    expect((await post('/api/set', { pool: 'web', path: 'vm1', attr: 'memory', value: '99' }, { origin: 'http://evil.example' })).status).toBe(403)
    expect((await post('/api/set', { pool: 'web', path: 'vm1', attr: 'memory', value: '99' }, { 'content-type': 'text/plain' })).status).toBe(415)
    const noCookie = await fetch(base + 'api/set', { method: 'POST', headers: { 'content-type': 'application/json', 'x-sdpeer-csrf': csrf }, body: '{}' })
    expect(noCookie.status).toBe(401)
    expect((await fetch(base + 'api/set?pool=web&path=vm1&attr=memory&value=99', { headers: { cookie } })).status).toBe(404)
    expect((await cli(['get', 'web:vm1', 'memory'])).stdout.trim()).toBe('64')
  })

  it('modifies an attribute with a .sf value, checked by the engine; errors come back typed', async () => {
    const syntax = await post('/api/set', { pool: 'web', path: 'vm1', attr: 'memory', value: '[| 1,' })
    expect(syntax.status).toBe(400)
    expect((await syntax.json()).error.name).toBe('ConsoleValueError')
    const schema = await post('/api/set', { pool: 'web', path: 'vm1', attr: 'memory', value: '"lots"' })
    expect(schema.status).toBe(400)
    expect((await schema.json()).error).toMatchObject({ name: 'EngineError', pool: 'web', path: 'vm1' })
    const ok = await post('/api/set', { pool: 'web', path: 'vm1', attr: 'memory', value: '128' })
    expect(ok.status).toBe(200)
    expect(await ok.json()).toEqual({ value: '128' })
    expect((await cli(['get', 'web:vm1', 'memory'])).stdout.trim()).toBe('128')
  })

  it('serves /metrics to a bearer token, parseable, with the pool\'s domains and deploy latency', async () => {
    expect((await fetch(base + 'metrics')).status).toBe(401)
    const r = await fetch(base + 'metrics', { headers: { authorization: `Bearer ${token}` } })
    expect(r.headers.get('content-type')).toContain('version=0.0.4')
    const f = parseMetrics(await r.text())
    expect(valueOf(f, 'sdpeer_domains', { state: 'running' })).toBe(1)
    expect(valueOf(f, 'sdpeer_pools', { state: 'running' })).toBe(1)
    expect(valueOf(f, 'sdpeer_deploy_duration_seconds_count')).toBeGreaterThanOrEqual(1)
  })

  it('pushes state changes over server-sent events while a component, then the whole pool, is terminated', async () => {
    const stream = await fetch(base + 'events', { headers: { cookie } })
    expect(stream.headers.get('content-type')).toContain('text/event-stream')
    // ABNORMAL: the component ends `failed`, as SmartFrog's abnormal termination does; the root (sfSyncTerminate
    // false, Compound's default) records it and the pool runs on.
    const one = readEvents(stream, e => e.path === 'vm1' && e.state === 'failed')
    one.catch(() => {})
    const t = await post('/api/terminate', { pool: 'web', path: 'vm1', type: 'abnormal' })
    expect(t.status).toBe(200)
    expect((await t.json()).message).toBe('web:vm1 failed; pool running')
    const events = await one
    expect(events.some(e => e.path === 'vm1' && e.state === 'terminating')).toBe(true)
    const tree = await (await fetch(base + 'pool?name=web', { headers: { cookie } })).text()
    expect(tree).toMatch(/data-pool="web" data-path="vm1">failed</)
    expect(tree).toMatch(/data-pool="web" data-path="myShell">running</)
    expect((await post('/api/terminate', { pool: 'web', path: 'nope', type: 'normal' })).status).toBe(400)
    // ABNORMAL on the root: the pool ends `failed`.
    const stream2 = await fetch(base + 'events', { headers: { cookie } })
    const seen = readEvents(stream2, e => e.path === '' && e.state === 'failed')
    seen.catch(() => {})
    const w = await post('/api/terminate', { pool: 'web', path: '', type: 'abnormal' })
    expect((await w.json()).message).toBe('pool web failed')
    await seen
    // A pool that failed is forgotten by the engine: the console lists it no more.
    expect(await (await fetch(base, { headers: { cookie } })).text()).not.toContain('href="/pool?name=web"')
    expect(events.some(e => e.path === 'vm1' && e.message === 'terminated ABNORMAL from the console at vm1')).toBe(true)
    const m = parseMetrics(await (await fetch(base + 'metrics', { headers: { cookie } })).text())
    expect(valueOf(m, 'sdpeer_terminate_duration_seconds_count')).toBeGreaterThanOrEqual(1)
  })
})

describe('console robustness', () => {
  it('answers malformed requests with 4xx and goes on', async () => {
    const big = await fetch(base + 'api/set', { method: 'POST', headers: { cookie, 'content-type': 'application/json', 'x-sdpeer-csrf': csrf }, body: 'x'.repeat(300 * 1024) })
    expect(big.status).toBe(413)
    const notJson = await fetch(base + 'api/set', { method: 'POST', headers: { cookie, 'content-type': 'application/json', 'x-sdpeer-csrf': csrf }, body: '{"pool":' })
    expect(notJson.status).toBe(400)
    expect((await post('/api/set', [1, 2])).status).toBe(400)
    expect((await post('/api/set', { pool: 'web', path: 'a::b', attr: 'x', value: '1' })).status).toBe(400)
    expect((await post('/api/nope', { pool: 'web' })).status).toBe(404)
    expect((await fetch(base, { method: 'DELETE', headers: { cookie } })).status).toBe(405)
    const head = await fetch(base, { method: 'HEAD', headers: { cookie } })
    expect(head.status).toBe(200)
    expect((await fetch(base + 'hosts', { headers: { cookie } })).status).toBe(200)
  })

  it('a daemon stops promptly with live event streams open, and removes its URL file', async () => {
    const sd = join(dir, 'state-sse')
    const d = await startDaemon({ host: 'h9', stateDir: sd, driver: 'sim', insecure: true, console: { listen: '127.0.0.1:0' }, logStream: quietLog() })
    const t = (await readFile(join(sd, 'console.token'), 'utf8')).trim()
    const streams = await Promise.all([1, 2, 3].map(async () => await fetch(d.consoleUrl + 'events', { headers: { authorization: `Bearer ${t}` } })))
    expect(streams.every(s => s.status === 200)).toBe(true)
    const t0 = Date.now()
    await d.stop()
    expect(Date.now() - t0).toBeLessThan(3000)
    await expect(stat(join(sd, 'console.url'))).rejects.toThrow(/ENOENT/)
    for (const s of streams) await s.body?.cancel().catch(() => {})
  })
})
