import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { Writable } from 'node:stream'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { startDaemon } from '../../node/daemon/daemon.ts'
import type { Daemon } from '../../node/daemon/daemon.ts'
import type { DaemonFactories } from '../../node/daemon/factories.ts'
import { formatHuman } from '../../node/daemon/logger.ts'
import { ApiClient } from '../../node/api/client.ts'
import type { HypervisorDriver } from '../../node/drivers/types.ts'
import { FakeEngine } from '../api/fake-engine.ts'

let dir: string
let engines: FakeEngine[]
let logs: string[]
const running: Daemon[] = []

const driver = { name: 'sim' } as unknown as HypervisorDriver

function factories (): DaemonFactories {
  return {
    createDriver: () => driver,
    createEngine: (o) => { const e = new FakeEngine(o.host); engines.push(e); return e }
  }
}

function logStream (): Writable {
  return new Writable({ write (c, _e, cb) { logs.push(...String(c).split('\n').filter(Boolean)); cb() } })
}

async function start (host = 'machine9', extra: Record<string, unknown> = {}): Promise<Daemon> {
  const d = await startDaemon({ host, stateDir: dir, driver: 'sim', insecure: true, mesh: false, logStream: logStream(), ...extra }, factories())
  running.push(d)
  return d
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'sdpeer-daemon-'))
  engines = []
  logs = []
})

afterEach(async () => {
  for (const d of running.splice(0)) await d.stop()
  await rm(dir, { recursive: true, force: true })
})

describe('daemon assembly', () => {
  it('recovers, starts the engine, listens on STATE_DIR/api.sock and writes its identity', async () => {
    const d = await start()
    expect(d.apiPath).toBe(join(dir, 'api.sock'))
    expect(engines[0]!.calls).toEqual(['recover', 'start'])
    expect((await stat(dir)).mode & 0o777).toBe(0o700)
    expect((await stat(d.apiPath)).mode & 0o777).toBe(0o600)
    expect(JSON.parse(await readFile(join(dir, 'daemon.json'), 'utf8'))).toMatchObject({ host: 'machine9', driver: 'sim' })
    const c = await ApiClient.connect(d.apiPath)
    expect(await c.call('ping', {})).toMatchObject({ host: 'machine9', driver: 'sim' })
    c.close()
    const ready = logs.map(l => JSON.parse(l)).find(r => r.msg === 'daemon ready')
    expect(ready).toMatchObject({ host: 'machine9', api: d.apiPath, level: 30 })
  })

  it('stops without terminating pools and releases the state dir for the next daemon', async () => {
    const d = await start()
    const c = await ApiClient.connect(d.apiPath)
    await c.call('deploy', { pool: 'web', config: { a: { type: 'BashShell' } }, wait: true })
    c.close()
    await d.stop()
    expect(engines[0]!.calls).toEqual(['recover', 'start', 'deploy web', 'stop'])
    await expect(stat(d.apiPath)).rejects.toMatchObject({ code: 'ENOENT' })
    await expect(stat(join(dir, 'daemon.lock'))).rejects.toMatchObject({ code: 'ENOENT' })
    await start()
    expect(engines[1]!.calls).toEqual(['recover', 'start'])
  })

  it('refuses a second daemon on the same state dir, whatever its socket', async () => {
    await start()
    const err = await startDaemon({ host: 'machine9', stateDir: dir, driver: 'sim', apiPath: join(dir, 'other.sock'), insecure: true, mesh: false, logStream: logStream() }, factories()).catch(e => e)
    expect(err).toMatchObject({ name: 'StateDirError' })
    expect(err.message).toContain(`held by the sdpeer daemon with pid ${process.pid}`)
    expect(engines.length).toBe(1)
  })

  it('refuses to start on a socket another daemon answers, before recovering anything', async () => {
    const a = await start()
    const other = await mkdtemp(join(tmpdir(), 'sdpeer-daemon-b-'))
    try {
      const err = await startDaemon({ host: 'machine10', stateDir: other, driver: 'sim', apiPath: a.apiPath, insecure: true, mesh: false, logStream: logStream() }, factories()).catch(e => e)
      expect(err).toMatchObject({ name: 'DaemonAlreadyRunningError' })
      expect(engines.length).toBe(1)
      await expect(stat(join(other, 'daemon.lock'))).rejects.toMatchObject({ code: 'ENOENT' })
      const c = await ApiClient.connect(a.apiPath)
      expect(await c.call('ping', {})).toMatchObject({ host: 'machine9' })
      c.close()
    } finally {
      await rm(other, { recursive: true, force: true })
    }
  })

  it('holds requests that arrive during recovery until the engine is started', async () => {
    let release: () => void = () => {}
    const gate = new Promise<void>(resolve => { release = resolve })
    const slow: DaemonFactories = {
      createDriver: () => driver,
      createEngine: (o) => {
        const e = new FakeEngine(o.host)
        e.recover = async () => { e.calls.push('recover'); await gate }
        engines.push(e)
        return e
      }
    }
    const starting = startDaemon({ host: 'machine9', stateDir: dir, driver: 'sim', insecure: true, mesh: false, logStream: logStream() }, slow)
    const sock = join(dir, 'api.sock')
    for (let i = 0; i < 200; i++) {
      if (await stat(sock).then(() => true, () => false)) break
      await new Promise(resolve => setTimeout(resolve, 5))
    }
    const c = await ApiClient.connect(sock)
    let answered = false
    const ping = c.call('ping', {}).then(r => { answered = true; return r })
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(answered).toBe(false)
    release()
    running.push(await starting)
    expect(await ping).toMatchObject({ host: 'machine9' })
    expect(engines[0]!.calls).toEqual(['recover', 'start'])
    c.close()
  })

  it('takes over the lock of a dead daemon (SIGKILL leaves it behind)', async () => {
    // pid 2^22+1 is above Linux's pid_max default ceiling, so no live process has it.
    await writeFile(join(dir, 'daemon.lock'), '4194305\n')
    const d = await start()
    expect(await readFile(join(dir, 'daemon.lock'), 'utf8')).toBe(`${process.pid}\n`)
    await d.stop()
  })

  it('refuses a state dir made for another host name or driver, before starting anything', async () => {
    await (await start('machine9')).stop()
    running.length = 0
    const err = await startDaemon({ host: 'machine10', stateDir: dir, driver: 'sim', insecure: true, mesh: false, logStream: logStream() }, factories()).catch(e => e)
    expect(err).toMatchObject({ name: 'StateDirError' })
    expect(err.message).toContain('"machine9"')
    const err2 = await startDaemon({ host: 'machine9', stateDir: dir, driver: 'qemu', insecure: true, mesh: false, logStream: logStream() }, factories()).catch(e => e)
    expect(err2).toMatchObject({ name: 'StateDirError' })
    expect(engines.length).toBe(1)
    // The failed starts released the lock: a correct one starts.
    await start('machine9')
  })

  it('refuses an unknown driver without recording it in the state dir', async () => {
    const err = await startDaemon({ host: 'machine9', stateDir: dir, driver: 'vmware', insecure: true, mesh: false, logStream: logStream() }).catch(e => e)
    expect(err).toMatchObject({ name: 'DriverError' })
    await expect(stat(join(dir, 'daemon.json'))).rejects.toMatchObject({ code: 'ENOENT' })
    await expect(stat(join(dir, 'daemon.lock'))).rejects.toMatchObject({ code: 'ENOENT' })
  })

  it('refuses a host name that is not one', async () => {
    for (const host of ['', 'a b', 'x;rm -rf /', '-lead', 'a..b', 'x'.repeat(64)]) {
      await expect(startDaemon({ host, stateDir: dir, driver: 'sim', insecure: true, mesh: false, logStream: logStream() }, factories())).rejects.toMatchObject({ name: 'DaemonConfigError', option: '--host' })
    }
  })

  it('logs engine events with pool and component path', async () => {
    const d = await start()
    const c = await ApiClient.connect(d.apiPath)
    await c.call('deploy', { pool: 'web', config: { loop: { type: 'LoopbackStorageBackend' } }, wait: true })
    c.close()
    const rec = logs.map(l => JSON.parse(l)).find(r => r.pool === 'web' && r.path === 'loop' && r.state === 'running')
    expect(rec).toMatchObject({ host: 'machine9', level: 30 })
  })
})

describe('daemon security and mesh', () => {
  it('refuses to start without a pool key and a trust store unless insecure, and says how to fix it', async () => {
    const err = await startDaemon({ host: 'machine9', stateDir: dir, driver: 'sim', mesh: false, logStream: logStream() }, factories()).catch(e => e)
    expect(err).toMatchObject({ name: 'InsecureStartError' })
    expect(err.message).toMatch(/no pool key .* and no trust store .*sdpeer init --state-dir/)
    await expect(stat(join(dir, 'api.sock'))).rejects.toMatchObject({ code: 'ENOENT' })
    await expect(stat(join(dir, 'daemon.lock'))).rejects.toMatchObject({ code: 'ENOENT' })
    // --insecure starts, and says so in the log.
    await start()
    expect(logs.map(l => JSON.parse(l)).some(r => r.level === 40 && /running INSECURE/.test(r.msg))).toBe(true)
  })

  it('with a mesh: writes STATE_DIR/mesh.json {peerId, addrs, host}, answers hosts and ls, and leaves the mesh on stop', async () => {
    const d = await start('machine9', { mesh: {} })
    const mesh = JSON.parse(await readFile(join(dir, 'mesh.json'), 'utf8'))
    expect(mesh.host).toBe('machine9')
    expect(mesh.peerId).toMatch(/^12D3Koo/)
    expect(mesh.addrs[0]).toMatch(new RegExp(`^/ip4/127\\.0\\.0\\.1/tcp/\\d+/p2p/${mesh.peerId}$`))
    const c = await ApiClient.connect(d.apiPath)
    expect(await c.call('ping', {})).toMatchObject({ peerId: mesh.peerId })
    const hosts = await c.call('hosts', {})
    expect(hosts.self).toMatchObject({ peerId: mesh.peerId, host: 'machine9', insecure: true })
    expect(hosts.hosts.map(h => [h.hostNames, h.state, h.insecure])).toEqual([[['machine9'], 'self', true]])
    expect(await c.call('ls', {})).toEqual([])
    c.close()
    await d.stop()
    expect(d.mesh!.node.libp2p.status).toBe('stopped')
  })
})

describe('human log lines', () => {
  it('shows time, level, pool:path, message and extra fields', () => {
    const line = formatHuman({ level: 40, time: Date.UTC(2026, 0, 1, 12, 0, 1, 123), host: 'h', pool: 'web', path: 'computer1:domain1', msg: 'domain crashed', state: 'failed', pid: 1 })
    expect(line).toBe('12:00:01.123 WARN  web:computer1:domain1  domain crashed  state=failed')
    expect(formatHuman({ level: 30, time: 0, msg: 'ready', err: { message: 'boom', stack: 'x' } })).toBe('00:00:00.000 INFO  ready  err="boom"')
  })
})
