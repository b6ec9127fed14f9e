import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import fc from 'fast-check'
import net from 'node:net'
import { spawn } from 'node:child_process'
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ApiServer } from '../../node/api/server.ts'
import { ApiClient, ApiRemoteError, DaemonNotRunningError } from '../../node/api/client.ts'
import { createEngineHandler } from '../../node/api/engine-handler.ts'
import { DaemonAlreadyRunningError, SocketPathError } from '../../node/api/socket-path.ts'
import { FrameDecoder, encodeFrame } from '../../node/api/framing.ts'
import type { StreamItem } from '../../node/api/messages.ts'
import { FakeEngine } from './fake-engine.ts'

let dir: string
let sock: string
let engine: FakeEngine
let server: ApiServer
const clients: ApiClient[] = []

async function client (): Promise<ApiClient> {
  const c = await ApiClient.connect(sock)
  clients.push(c)
  return c
}

/** A raw socket speaking frames by hand, for hostile input. */
async function raw (): Promise<{ sock: net.Socket, frames: unknown[], closed: Promise<void> }> {
  const s = net.connect(sock)
  await new Promise<void>((resolve, reject) => { s.once('connect', resolve); s.once('error', reject) })
  const frames: unknown[] = []
  const d = new FrameDecoder()
  s.on('data', c => { for (const f of d.push(c)) frames.push(f.ok ? f.value : f.error) })
  s.on('error', () => {})
  const closed = new Promise<void>(resolve => s.once('close', () => { resolve() }))
  return { sock: s, frames, closed }
}

async function until (cond: () => boolean, ms = 2000): Promise<void> {
  const end = Date.now() + ms
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out waiting')
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

const pool = { sfSyncTerminate: true, myShell: { type: 'BashShell' }, loop: { type: 'LoopbackStorageBackend' }, domain1: { type: 'XenDomain', memory: 64 } }

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sdpeer-api-'))
  sock = join(dir, 'api.sock')
  engine = new FakeEngine()
  server = new ApiServer({ path: sock, handler: createEngineHandler(engine, { host: 'fakehost', driver: 'sim', version: 'test' }), maxFrameBytes: 64 * 1024 })
  await server.listen()
})

afterEach(async () => {
  for (const c of clients.splice(0)) c.close()
  await server.close()
  await rm(dir, { recursive: true, force: true })
})

describe('control API server', () => {
  it('listens on a 0600 socket and answers ping', async () => {
    expect((await stat(sock)).mode & 0o777).toBe(0o600)
    const c = await client()
    const r = await c.call('ping', {})
    expect(r).toMatchObject({ host: 'fakehost', driver: 'sim', pid: process.pid })
  })

  it('streams deploy progress with --wait, then answers with the running pool', async () => {
    const c = await client()
    const items: StreamItem[] = []
    const status = await c.call('deploy', { pool: 'web', config: pool, wait: true }, { onItem: i => items.push(i) })
    expect('accepted' in status).toBe(false)
    expect(status).toMatchObject({ pool: 'web', state: 'running' })
    const running = items.flatMap(i => i.kind === 'event' && i.event.state === 'running' ? [i.event.path] : [])
    expect(running).toEqual(['', 'myShell', 'loop', 'domain1'])
    expect(engine.listeners).toBe(0)
  })

  it('answers a deploy without --wait once the engine took the pool', async () => {
    engine.stepMs = 30
    const c = await client()
    const r = await c.call('deploy', { pool: 'web', config: pool, wait: false })
    expect(r).toEqual({ pool: 'web', accepted: true })
    expect((await c.call('status', { pool: 'web' }))[0]!.state).toBe('deploying')
    await until(() => engine.pools.get('web')?.status.state === 'running')
  })

  it('passes on the engine refusing a pool name already in use, with or without --wait', async () => {
    const c = await client()
    await c.call('deploy', { pool: 'web', config: pool, wait: true })
    for (const wait of [false, true]) {
      const err = await c.call('deploy', { pool: 'web', config: pool, wait }).catch(e => e)
      expect(err).toMatchObject({ remoteName: 'EngineError', pool: 'web' })
    }
    expect(engine.listeners).toBe(0)
  })

  it('returns engine errors with their class name, pool and path', async () => {
    const c = await client()
    const err = await c.call('deploy', { pool: 'bad', config: { ...pool, domain1: { type: 'XenDomain', fail: true } }, wait: true }).catch(e => e)
    expect(err).toBeInstanceOf(ApiRemoteError)
    expect(err).toMatchObject({ remoteName: 'EngineError', pool: 'bad', path: 'domain1' })
    expect(await c.call('status', {})).toEqual([])
    const set = await c.call('set', { pool: 'nope', path: 'a', attr: 'b', value: 1 }).catch(e => e)
    expect(set).toMatchObject({ remoteName: 'EngineError', pool: 'nope' })
  })

  it('gets, sets and type-checks attributes through the engine', async () => {
    const c = await client()
    await c.call('deploy', { pool: 'web', config: pool, wait: true })
    await c.call('set', { pool: 'web', path: 'domain1', attr: 'saveImage', value: true })
    expect(await c.call('get', { pool: 'web', path: 'domain1', attr: 'saveImage' })).toEqual({ value: true })
    const bad = await c.call('set', { pool: 'web', path: 'domain1', attr: 'memory', value: 'lots' }).catch(e => e)
    expect(bad).toMatchObject({ remoteName: 'EngineError' })
  })

  it('follows logs until cancelled, and stops streaming after the cancel', async () => {
    const c = await client()
    await c.call('deploy', { pool: 'web', config: pool, wait: true })
    const lines: string[] = []
    const stop = new AbortController()
    const done = c.call('logs', { pool: 'web', path: 'myShell', follow: true }, { signal: stop.signal, onItem: i => { if (i.kind === 'log') lines.push(i.line) } })
    await until(() => lines.length === 1)
    engine.log('web', 'myShell', 'echo hello')
    engine.log('web', 'domain1', 'not mine')
    await until(() => lines.length === 2)
    stop.abort()
    expect(await done).toEqual({ lines: [] })
    engine.log('web', 'myShell', 'after cancel')
    await new Promise(resolve => setTimeout(resolve, 30))
    expect(lines).toEqual(['myShell started', 'echo hello'])
    expect(engine.listeners).toBe(0)
  })

  it('ends logs --follow when the component terminates', async () => {
    const c = await client()
    await c.call('deploy', { pool: 'web', config: pool, wait: true })
    const done = c.call('logs', { pool: 'web', path: 'domain1', follow: true })
    await until(() => engine.listeners === 1)
    await c.call('terminate', { pool: 'web', type: 'normal' })
    expect(await done).toEqual({ lines: [] })
  })

  it('answers a request with a bad field by its id and keeps the connection', async () => {
    const r = await raw()
    r.sock.write(encodeFrame({ id: 7, op: 'deploy', pool: '../../etc', config: {} }))
    r.sock.write(encodeFrame({ id: 8, op: 'ping' }))
    await until(() => r.frames.length === 2)
    expect(r.frames[0]).toMatchObject({ id: 7, type: 'error', error: { name: 'ApiRequestError', field: 'pool' } })
    expect(r.frames[1]).toMatchObject({ id: 8, type: 'result' })
    r.sock.destroy()
  })

  it('answers invalid JSON with an id-less error and goes on', async () => {
    const r = await raw()
    const body = Buffer.from('{"id": 1, "op": ')
    const h = Buffer.alloc(4); h.writeUInt32BE(body.length)
    r.sock.write(Buffer.concat([h, body, encodeFrame({ id: 2, op: 'ping' })]))
    await until(() => r.frames.length === 2)
    expect(r.frames[0]).toMatchObject({ id: null, type: 'error', error: { name: 'FrameDecodeError' } })
    expect(r.frames[1]).toMatchObject({ id: 2, type: 'result' })
    r.sock.destroy()
  })

  it('closes a connection that announces an oversized frame, and serves the others', async () => {
    const other = await client()
    const r = await raw()
    const h = Buffer.alloc(4); h.writeUInt32BE(64 * 1024 + 1)
    r.sock.write(h)
    await r.closed
    expect(r.frames[0]).toMatchObject({ id: null, type: 'error', error: { name: 'FrameTooLargeError' } })
    expect(await other.call('ping', {})).toMatchObject({ host: 'fakehost' })
  })

  it('refuses a second request with an id already in flight', async () => {
    engine.stepMs = 20
    const r = await raw()
    r.sock.write(encodeFrame({ id: 1, op: 'deploy', pool: 'a', config: pool, wait: true }))
    r.sock.write(encodeFrame({ id: 1, op: 'ping' }))
    await until(() => r.frames.some(f => (f as { type?: string }).type === 'error'))
    expect(r.frames.find(f => (f as { type?: string }).type === 'error')).toMatchObject({ id: 1, error: { field: 'id', name: 'ApiRequestError' } })
    r.sock.destroy()
  })

  it('survives random bytes and random frames (property), then still answers', async () => {
    await fc.assert(fc.asyncProperty(
      fc.oneof(fc.uint8Array({ maxLength: 300 }), fc.jsonValue().map(v => encodeFrame(v)), fc.record({ id: fc.jsonValue(), op: fc.constantFrom('deploy', 'set', 'get', 'logs', 'cancel') }).map(v => encodeFrame(v))),
      async bytes => {
        const r = await raw()
        r.sock.write(bytes)
        await new Promise(resolve => setTimeout(resolve, 2))
        r.sock.destroy()
      }), { numRuns: 150 })
    const c = await client()
    expect(await c.call('ping', {})).toMatchObject({ host: 'fakehost' })
  })

  it('serves many concurrent clients, each answer to its own request', async () => {
    const cs = await Promise.all(Array.from({ length: 20 }, async () => await client()))
    await Promise.all(cs.map(async (c, i) => {
      await c.call('deploy', { pool: `p${i}`, config: { x: { type: 'BashShell', n: i } }, wait: true })
      const got = await Promise.all(Array.from({ length: 10 }, async () => await c.call('get', { pool: `p${i}`, path: 'x', attr: 'n' })))
      expect(got.every(g => g.value === i)).toBe(true)
    }))
    expect((await cs[0]!.call('status', {})).length).toBe(20)
  })

  it('drops a client that disconnects mid-stream without leaking its subscription', async () => {
    const r = await raw()
    r.sock.write(encodeFrame({ id: 1, op: 'events' }))
    await until(() => engine.listeners === 1)
    r.sock.destroy()
    await until(() => engine.listeners === 0)
  })
})

describe('control API back-pressure', () => {
  it('drops a client that stops reading a stream instead of buffering without bound', async () => {
    const path = join(dir, 'slow.sock')
    const eng = new FakeEngine()
    const small = new ApiServer({ path, handler: createEngineHandler(eng, { host: 'h', driver: 'sim', version: 't' }), maxQueuedBytes: 64 * 1024 })
    await small.listen()
    const s = net.connect(path)
    await new Promise<void>(resolve => s.once('connect', () => { resolve() }))
    s.on('error', () => {})
    s.pause()
    s.write(encodeFrame({ id: 1, op: 'events' }))
    await until(() => eng.listeners === 1)
    const line = 'x'.repeat(8192)
    // Far more than the socket buffers and the 64 KiB allowance hold, while the client reads nothing.
    for (let i = 0; i < 400 && small.connections > 0; i++) {
      eng.emit('p', 'a', 'log', line)
      await new Promise(resolve => setImmediate(resolve))
    }
    await until(() => small.connections === 0 && eng.listeners === 0)
    s.destroy()
    await small.close()
  })
})

describe('control API socket path', () => {
  it('refuses to start over a live daemon, and the live one keeps working', async () => {
    const second = new ApiServer({ path: sock, handler: createEngineHandler(new FakeEngine(), { host: 'b', driver: 'sim', version: 't' }) })
    await expect(second.listen()).rejects.toBeInstanceOf(DaemonAlreadyRunningError)
    expect(await (await client()).call('ping', {})).toMatchObject({ host: 'fakehost' })
  })

  it('removes a stale socket left by a dead daemon', async () => {
    const stalePath = join(dir, 'stale.sock')
    // A socket file nobody listens on, as a daemon killed with SIGKILL leaves it.
    const child = spawn(process.execPath, ['-e', `require('net').createServer().listen(${JSON.stringify(stalePath)}, () => console.log('up'))`])
    await new Promise<void>(resolve => child.stdout.once('data', () => { resolve() }))
    child.kill('SIGKILL')
    await new Promise(resolve => child.once('exit', resolve))
    expect((await stat(stalePath)).isSocket()).toBe(true)
    const fresh = new ApiServer({ path: stalePath, handler: createEngineHandler(new FakeEngine('fresh'), { host: 'fresh', driver: 'sim', version: 't' }) })
    await fresh.listen()
    const c = await ApiClient.connect(stalePath)
    expect(await c.call('ping', {})).toMatchObject({ host: 'fresh' })
    c.close()
    await fresh.close()
  })

  it('refuses to replace a file that is not a socket', async () => {
    const file = join(dir, 'notes.txt')
    await writeFile(file, 'keep me')
    const s = new ApiServer({ path: file, handler: createEngineHandler(new FakeEngine(), { host: 'b', driver: 'sim', version: 't' }) })
    await expect(s.listen()).rejects.toBeInstanceOf(SocketPathError)
  })

  it('tells the client clearly when no daemon runs', async () => {
    const err = await ApiClient.connect(join(dir, 'none.sock')).catch(e => e)
    expect(err).toBeInstanceOf(DaemonNotRunningError)
    expect(err.message).toContain('no sdpeer daemon at')
  })
})
