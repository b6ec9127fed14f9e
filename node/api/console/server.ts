import { createRequire } from 'node:module'
// Required, not imported: an ES import of node:http reads its lazy WebSocket getter, which loads undici, ~13 MiB
// of RSS in every daemon (BENCHMARKS.md, mesh).
const http = createRequire(import.meta.url)('node:http') as typeof import('node:http')
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import type { EngineEvent, PoolEngine, PoolStatus } from '../../engine/types.ts'
import type { SfJson } from '../../sf/sfjson.ts'
import type { Clock, Timer } from '../../seams/clock.ts'
import { realClock } from '../../seams/clock.ts'
import { ApiRequestError, checkAttrName, checkComponentPath, checkPoolName, toWireError } from '../messages.ts'
import type { Metrics } from '../metrics.ts'
import { metrics as defaultMetrics } from '../metrics.ts'
import type { ConsoleAddress } from './address.ts'
import type { HostsProvider, ImagesProvider } from './providers.ts'
import { emptyWarehouse } from './providers.ts'
import { URL_FILE, csrfFor, loadOrCreateToken, sameToken } from './token.ts'
import { page } from './html.ts'
import type { Html } from './html.ts'
import { componentView, errorView, hostsView, imagesView, poolTreeView, poolsView } from './views.ts'
import { CONSOLE_CSS, CONSOLE_JS } from './static.ts'
import { parseSfText, sfText } from './sf-text.ts'
import { pingGuest } from './ping.ts'
import { engineAccess } from './pools.ts'
import type { PoolAccess } from './pools.ts'

// The management console: node:http, server-rendered pages, one script, server-sent events for live state. Every
// request needs the token (`?token=` once, then an HttpOnly SameSite=Strict cookie; `Authorization: Bearer` for
// scrapers); state changes are POSTs carrying a CSRF header derived from the token, never GETs.

/**
 * The cookie's name carries the port: browsers scope cookies by host, not port, and several daemons on one machine
 * (the demo's three, say) each have their own token; one shared name would log the operator out of the others.
 */
export function cookieName (port: number): string {
  return `sdpeer_console_${port}`
}
const MAX_BODY = 256 * 1024
const MAX_LOG_LINES = 1000
/** An SSE client that does not read is dropped once this much is queued for it. */
const MAX_SSE_QUEUE = 1024 * 1024
const HEARTBEAT_MS = 15_000

export interface ConsoleLog {
  info (obj: object, msg: string): void
  warn (obj: object, msg: string): void
}

export interface ConsoleOptions {
  listen: ConsoleAddress
  stateDir: string
  host: string
  engine: PoolEngine
  /** Where pools are read and changed; default this host's engine alone (see pools.ts). */
  pools?: PoolAccess
  hosts: HostsProvider
  images?: ImagesProvider
  metrics?: Metrics
  /** /metrics without the token (for a scraper on a trusted network). */
  metricsPublic?: boolean
  clock?: Clock
  log?: ConsoleLog
  /** STATE_DIR/console.url: written always (default), or only when no other console wrote it ('if-absent'). */
  urlFile?: 'always' | 'if-absent'
}

class HttpError extends Error {
  override readonly name = 'ConsoleHttpError'
  readonly status: number
  constructor (status: number, message: string) {
    super(message)
    this.status = status
  }
}

const DOMAIN_TYPES = new Set(['XenDomain', 'VM'])
/** Typed errors that are the request's fault (a bad name, a refused value, an unknown pool): 400, not 500. */
const CLIENT_ERRORS = new Set(['ApiRequestError', 'ConsoleValueError', 'EngineError', 'PoolNotFoundError', 'PathNotFoundError', 'HostPolicyError', 'PoolBusyError'])
/** A change the console's key may not make (operator.ts): 403, with the refusal's text. */
const REFUSALS = new Set(['ConsoleAuthError', 'ApiAuthError'])

/**
 * The HTTP status of a failed request. Errors from other peers keep their meaning: an owner's refusal or engine
 * error is the request's fault (400; 403 when a signature was refused), an owner that cannot be reached is a bad
 * gateway (502, or 504 on a timeout); only what nobody explains is a 500.
 */
function httpStatusOf (err: unknown): number {
  if (err instanceof HttpError) return err.status
  if (!(err instanceof Error)) return 500
  if (REFUSALS.has(err.name)) return 403
  if (CLIENT_ERRORS.has(err.name)) return 400
  const code = (err as { code?: unknown }).code
  if (err.name === 'DeployTransportError') return code === 'timeout' ? 504 : code === 'unreachable' ? 502 : /AuthError/.test(err.message) ? 403 : 400
  if (err.name === 'TerminateRefusedError') return /AuthError/.test(err.message) ? 403 : 502
  return 500
}

const SECURITY_HEADERS: Record<string, string> = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'x-frame-options': 'DENY',
  'cache-control': 'no-store'
}

function cookieValue (req: IncomingMessage, name: string): string | undefined {
  const header = req.headers.cookie
  if (!header) return undefined
  for (const part of header.split(';')) {
    const i = part.indexOf('=')
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim()
  }
  return undefined
}

export class ConsoleServer {
  readonly #o: ConsoleOptions
  readonly #metrics: Metrics
  readonly #clock: Clock
  readonly #pools: PoolAccess
  readonly #sse = new Set<ServerResponse>()
  #server: Server | undefined
  #token = ''
  #csrf = ''
  #url = ''
  #cookie = ''
  /** This server wrote console.url, so it removes it on close. */
  #ownsUrlFile = false

  constructor (options: ConsoleOptions) {
    this.#o = options
    this.#metrics = options.metrics ?? defaultMetrics
    this.#clock = options.clock ?? realClock
    this.#pools = options.pools ?? engineAccess(options.engine)
  }

  /** Base URL, e.g. http://127.0.0.1:8080/ (without the token). */
  get url (): string { return this.#url }
  /** The URL an operator opens: sets the cookie and drops the token from the address bar. */
  get loginUrl (): string { return `${this.#url}?token=${this.#token}` }
  get token (): string { return this.#token }

  async start (): Promise<void> {
    this.#token = await loadOrCreateToken(this.#o.stateDir)
    this.#csrf = csrfFor(this.#token)
    const server = http.createServer((req, res) => { this.#serve(req, res) })
    server.headersTimeout = 10_000
    server.requestTimeout = 30_000
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.#o.listen.port, this.#o.listen.host, () => { server.off('error', reject); resolve() })
    })
    server.on('error', err => { this.#o.log?.warn({ err }, 'console server error') })
    this.#server = server
    const addr = server.address() as AddressInfo
    const host = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address
    this.#url = `http://${host}:${addr.port}/`
    this.#cookie = cookieName(addr.port)
    try {
      await writeFile(join(this.#o.stateDir, URL_FILE), this.#url + '\n', { mode: 0o600, flag: this.#o.urlFile === 'if-absent' ? 'wx' : 'w' })
      this.#ownsUrlFile = true
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    }
  }

  async close (): Promise<void> {
    const server = this.#server
    if (!server) return
    this.#server = undefined
    for (const res of this.#sse) res.end()
    this.#sse.clear()
    const closed = new Promise<void>(resolve => server.close(() => { resolve() }))
    server.closeAllConnections()
    await closed
    if (this.#ownsUrlFile) await unlink(join(this.#o.stateDir, URL_FILE)).catch(() => {})
  }

  #serve (req: IncomingMessage, res: ServerResponse): void {
    this.#route(req, res).catch(err => {
      if (res.headersSent) { res.destroy(); return }
      const status = httpStatusOf(err)
      if (status === 500) this.#o.log?.warn({ err, url: req.url }, 'console request failed')
      if (req.url?.startsWith('/api/') || req.method === 'POST') this.#json(res, status, { error: toWireError(err) })
      else this.#page(res, status, 'Error', '', errorView(err instanceof Error ? err.message : String(err)))
    })
  }

  #authorised (req: IncomingMessage, url: URL): boolean {
    const bearer = /^Bearer (\S+)$/.exec(req.headers.authorization ?? '')?.[1]
    return sameToken(cookieValue(req, this.#cookie), this.#token) || sameToken(bearer, this.#token) ||
      (url.searchParams.has('token') && sameToken(url.searchParams.get('token') ?? undefined, this.#token))
  }

  async #route (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://console.invalid')
    const method = req.method ?? 'GET'
    if (url.pathname === '/metrics' && method === 'GET' && this.#o.metricsPublic) { this.#metricsBody(res); return }
    if (!this.#authorised(req, url)) {
      throw new HttpError(401, 'This console needs its access token: open the URL that `sdpeer console` prints.')
    }
    if (url.searchParams.has('token') && method === 'GET') {
      // Trade the token in the address bar (and history) for a cookie scripts cannot read.
      url.searchParams.delete('token')
      res.writeHead(303, {
        ...SECURITY_HEADERS,
        'set-cookie': `${this.#cookie}=${this.#token}; HttpOnly; SameSite=Strict; Path=/`,
        location: url.pathname + url.search
      })
      res.end()
      return
    }
    if (method === 'POST') { await this.#post(req, res, url); return }
    if (method !== 'GET' && method !== 'HEAD') {
      res.writeHead(405, { ...SECURITY_HEADERS, allow: 'GET, POST' })
      res.end()
      return
    }
    const q = (name: string): string => url.searchParams.get(name) ?? ''
    switch (url.pathname) {
      case '/': this.#page(res, 200, 'Pools', 'pools', poolsView(await this.#pools.status())); return
      case '/hosts': this.#page(res, 200, 'Hosts', 'hosts', hostsView(await this.#o.hosts.listHosts())); return
      case '/images': this.#page(res, 200, 'Image warehouse', 'images', imagesView(await (this.#o.images ?? emptyWarehouse).listImages())); return
      case '/pool': {
        const p = await this.#pool(q('name'))
        // Read before rendering: in a mesh each component's attributes may come from another peer.
        const attrs = new Map(await Promise.all(p.components.map(async c => [c.path, await this.#attributes(p.pool, c.path)] as const)))
        this.#page(res, 200, `Pool ${p.pool}`, 'pools', poolTreeView(p, path => attrs.get(path)))
        return
      }
      case '/component': {
        const p = await this.#pool(q('pool'))
        const path = checkComponentPath(q('path'))
        const status = p.components.find(c => c.path === path)
        if (!status) throw new HttpError(404, `pool ${p.pool} has no component ${path}`)
        const logs = await this.#logs(p.pool, path)
        const body = componentView({
          pool: p.pool,
          status,
          attributes: (await this.#attributes(p.pool, path)) ?? {},
          childPaths: new Set(p.components.map(c => c.path)),
          logs,
          isDomain: DOMAIN_TYPES.has(status.type)
        })
        this.#page(res, 200, `${p.pool}${path ? ':' + path : ''}`, 'pools', body)
        return
      }
      case '/api/status': this.#json(res, 200, await this.#pools.status()); return
      case '/api/hosts': this.#json(res, 200, await this.#o.hosts.listHosts()); return
      case '/api/ping': {
        const p = await this.#pool(q('pool'))
        const path = checkComponentPath(q('path'))
        this.#json(res, 200, await pingGuest((await this.#attributes(p.pool, path)) ?? {}))
        return
      }
      case '/events': this.#events(res); return
      case '/metrics': this.#metricsBody(res); return
      case '/static/console.js': this.#static(res, 'text/javascript; charset=utf-8', CONSOLE_JS); return
      case '/static/console.css': this.#static(res, 'text/css; charset=utf-8', CONSOLE_CSS); return
      default: throw new HttpError(404, `no page ${url.pathname}`)
    }
  }

  async #pool (name: string): Promise<PoolStatus> {
    checkPoolName(name)
    let found: PoolStatus | undefined
    try { found = (await this.#pools.status(name)).find(p => p.pool === name) } catch { found = undefined }
    if (!found) throw new HttpError(404, `no pool ${name} on this host`)
    return found
  }

  async #attributes (pool: string, path: string): Promise<SfJson | undefined> {
    try { return await this.#pools.get(pool, path) } catch { return undefined }
  }

  async #logs (pool: string, path: string): Promise<string[]> {
    // A part on another host keeps its logs there: the page says so rather than failing.
    try { return (await this.#pools.logs(pool, path)).slice(-MAX_LOG_LINES) } catch (err) { return [`(${(err as Error).message})`] }
  }

  async #post (req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> {
    if (!sameToken(req.headers['x-sdpeer-csrf'] as string | undefined, this.#csrf)) throw new HttpError(403, 'missing or wrong x-sdpeer-csrf header')
    const origin = req.headers.origin
    if (origin !== undefined && origin !== 'null' && req.headers.host !== undefined && origin !== `http://${req.headers.host}`) {
      throw new HttpError(403, `cross-origin request from ${origin}`)
    }
    if (!/^application\/json\b/.test(req.headers['content-type'] ?? '')) throw new HttpError(415, 'send application/json')
    const body = await readJson(req)
    const pool = checkPoolName(body.pool)
    const path = checkComponentPath(body.path ?? '')
    switch (url.pathname) {
      case '/api/set': {
        const attr = checkAttrName(body.attr)
        if (typeof body.value !== 'string') throw new ApiRequestError('must be the value in .sf syntax, as a string', 'value')
        const value = parseSfText(attr, body.value)
        await this.#pools.set(pool, path, attr, value)
        this.#o.log?.info({ pool, path, attr }, 'attribute changed from the console')
        this.#json(res, 200, { value: sfText(await this.#pools.get(pool, path, attr)) })
        return
      }
      case '/api/terminate': {
        const type = body.type
        if (type !== 'normal' && type !== 'abnormal') throw new ApiRequestError('must be "normal" or "abnormal"', 'type')
        await this.#pool(pool)
        const where = path === '' ? '' : ` at ${path}`
        this.#o.log?.info({ pool, path, type }, 'termination from the console')
        const status = await this.#pools.terminate(pool, path, type, `terminated ${type.toUpperCase()} from the console${where}`)
        const state = path === '' ? status.state : status.components.find(c => c.path === path)?.state ?? 'terminated'
        this.#json(res, 200, { message: path === '' ? `pool ${pool} ${state}` : `${pool}:${path} ${state}; pool ${status.state}`, status })
        return
      }
      default: throw new HttpError(404, `no action ${url.pathname}`)
    }
  }

  #events (res: ServerResponse): void {
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/event-stream; charset=utf-8', connection: 'keep-alive' })
    res.write('retry: 2000\n\n')
    let timer: Timer | undefined
    const beat = (): void => {
      res.write(': heartbeat\n\n')
      timer = this.#clock.setTimeout(beat, HEARTBEAT_MS)
    }
    timer = this.#clock.setTimeout(beat, HEARTBEAT_MS)
    const unsubscribe = this.#o.engine.onEvent((e: EngineEvent) => {
      // JSON.stringify escapes newlines, so one event is always one `data:` line.
      res.write(`data: ${JSON.stringify(e)}\n\n`)
      if (res.writableLength > MAX_SSE_QUEUE) res.destroy()
    })
    this.#sse.add(res)
    res.once('close', () => { unsubscribe(); timer?.cancel(); this.#sse.delete(res) })
  }

  #metricsBody (res: ServerResponse): void {
    const body = this.#metrics.render(this.#o.engine)
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': 'text/plain; version=0.0.4; charset=utf-8' })
    res.end(body)
  }

  #static (res: ServerResponse, type: string, body: string): void {
    res.writeHead(200, { ...SECURITY_HEADERS, 'content-type': type })
    res.end(body)
  }

  #page (res: ServerResponse, status: number, title: string, nav: 'pools' | 'hosts' | 'images' | '', body: Html): void {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'text/html; charset=utf-8' })
    res.end(page({ title, host: this.#o.host, csrf: status === 401 ? '' : this.#csrf, nav, body }))
  }

  #json (res: ServerResponse, status: number, value: unknown): void {
    res.writeHead(status, { ...SECURITY_HEADERS, 'content-type': 'application/json; charset=utf-8' })
    res.end(JSON.stringify(value))
  }
}

async function readJson (req: IncomingMessage): Promise<Record<string, unknown>> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of req) {
    size += (chunk as Buffer).length
    if (size > MAX_BODY) throw new HttpError(413, `body larger than ${MAX_BODY} bytes`)
    chunks.push(chunk as Buffer)
  }
  let v: unknown
  try { v = JSON.parse(Buffer.concat(chunks).toString('utf8')) } catch { throw new HttpError(400, 'body is not JSON') }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new HttpError(400, 'body must be a JSON object')
  return v as Record<string, unknown>
}
