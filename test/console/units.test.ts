import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { ConsoleConfigError, parseConsoleAddress } from '../../node/api/console/address.ts'
import { ConsoleTokenError, csrfFor, loadOrCreateToken, readToken, sameToken } from '../../node/api/console/token.ts'
import { forwardedPort, pingGuest } from '../../node/api/console/ping.ts'
import { esc, html, Html } from '../../node/api/console/html.ts'
import { parseSfText, sfText } from '../../node/api/console/sf-text.ts'
import { DeployProgress } from '../../cli/lib/progress.ts'
import { Script } from 'node:vm'
import { CONSOLE_JS } from '../../node/api/console/static.ts'
import type { EngineEvent } from '../../node/engine/types.ts'

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'sdpeer-console-units-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('--console address', () => {
  it.each([
    ['127.0.0.1:8080', '127.0.0.1', 8080], ['localhost:0', 'localhost', 0], ['[::1]:9000', '::1', 9000], ['127.3.4.5:1', '127.3.4.5', 1]
  ])('takes %s', (text, host, port) => {
    expect(parseConsoleAddress(text)).toEqual({ host, port })
  })

  it.each(['0.0.0.0:8080', '10.1.2.3:80', '[::]:80'])('refuses the non-loopback %s unless public', text => {
    expect(() => parseConsoleAddress(text)).toThrow(/--console-public/)
    expect(parseConsoleAddress(text, true).port).toBeGreaterThan(0)
  })

  it.each(['8080', '127.0.0.1', '127.0.0.1:99999', 'example.com:80', '[127.0.0.1]:80', '127.0.0.1:80; rm -rf /'])('refuses %s', text => {
    expect(() => parseConsoleAddress(text, true)).toThrow(ConsoleConfigError)
  })
})

describe('console token', () => {
  it('is made once, 0600, and read back the same', async () => {
    const sd = join(dir, 'tok')
    await import('node:fs/promises').then(fs => fs.mkdir(sd))
    const a = await loadOrCreateToken(sd)
    const b = await loadOrCreateToken(sd)
    expect(a).toBe(b)
    expect((await stat(join(sd, 'console.token'))).mode & 0o777).toBe(0o600)
    expect(sameToken(a, a)).toBe(true)
    expect(sameToken(a.slice(0, -1) + (a.endsWith('A') ? 'B' : 'A'), a)).toBe(false)
    expect(sameToken(undefined, a)).toBe(false)
    expect(csrfFor(a)).not.toContain(a)
  })

  it('refuses a token file others can read, or one that is not a token', async () => {
    const sd = join(dir, 'bad')
    await import('node:fs/promises').then(fs => fs.mkdir(sd))
    await writeFile(join(sd, 'console.token'), 'x'.repeat(43) + '\n', { mode: 0o644 })
    await chmod(join(sd, 'console.token'), 0o644)
    await expect(readToken(sd)).rejects.toThrow(/readable by others/)
    await writeFile(join(sd, 'console.token'), 'short\n')
    await expect(loadOrCreateToken(sd)).rejects.toThrow(ConsoleTokenError)
    expect((await readFile(join(sd, 'console.token'), 'utf8'))).toBe('short\n')
  })
})

describe('escaping', () => {
  it('escapes every interpolation except marked markup', () => {
    expect(esc('<a href="x" onclick=\'y\'>&`')).toBe('&lt;a href=&quot;x&quot; onclick=&#39;y&#39;&gt;&amp;&#96;')
    expect(html`<p title="${'"><script>'}">${'<b>'}${new Html('<i>ok</i>')}${['<', new Html('<br>')]}</p>`.text)
      .toBe('<p title="&quot;&gt;&lt;script&gt;">&lt;b&gt;<i>ok</i>&lt;<br></p>')
  })
})

describe('console script', () => {
  it('is valid JavaScript once out of its template string, and never writes markup', () => {
    expect(() => new Script(CONSOLE_JS)).not.toThrow()
    expect(CONSOLE_JS).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(/)
    // Escapes in the template must survive: the newline appended to log lines, the regex classes.
    expect(CONSOLE_JS).toContain("e.message + '\\n'")
    expect(CONSOLE_JS).toContain('([\\s\\S]*)')
  })
})

describe('.sf values in the console', () => {
  it('parses and prints values as sdpeer set / get do', () => {
    expect(parseSfText('a', '42')).toBe(42)
    expect(parseSfText('a', '"x"')).toBe('x')
    expect(parseSfText('a', '[| 1, "b" |]')).toEqual([1, 'b'])
    expect(sfText([1, 'b', true, null])).toBe('[| 1, "b", true, NULL |]')
    expect(() => parseSfText('a', '[| 1,')).toThrow(/a: not a \.sf value/)
  })
})

describe('VM ping', () => {
  let server: http.Server
  let port: number
  beforeAll(async () => {
    server = http.createServer((_req, res) => { res.writeHead(204); res.end() })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  })
  afterAll(async () => { await new Promise(resolve => server.close(resolve)) })

  it('reads the forwarded port from the attributes', () => {
    expect(forwardedPort({ qemuForwardPort: 8080 })).toBe(8080)
    expect(forwardedPort({ forwardPort: '8081' })).toBe(8081)
    expect(forwardedPort({ qemuForwardPort: 70000 })).toBeUndefined()
    expect(forwardedPort({ qemuForwardPort: '80; rm' })).toBeUndefined()
    expect(forwardedPort('x')).toBeUndefined()
  })

  it('is up when the forwarded port answers HTTP, down when nothing listens, unknown without a port', async () => {
    expect(await pingGuest({ qemuForwardPort: port })).toEqual({ status: 'up', detail: `http://127.0.0.1:${port}/ answered HTTP 204` })
    const closed = http.createServer()
    await new Promise<void>(resolve => closed.listen(0, '127.0.0.1', resolve))
    const dead = (closed.address() as AddressInfo).port
    await new Promise(resolve => closed.close(resolve))
    expect(await pingGuest({ qemuForwardPort: dead })).toMatchObject({ status: 'down', detail: expect.stringContaining('ECONNREFUSED') })
    expect((await pingGuest({ memory: 64 })).status).toBe('unknown')
  })

  it('is down when the guest accepts but does not answer in time', async () => {
    const mute = http.createServer(() => { /* never answers */ })
    await new Promise<void>(resolve => mute.listen(0, '127.0.0.1', resolve))
    const p = (mute.address() as AddressInfo).port
    const t0 = Date.now()
    expect(await pingGuest({ qemuForwardPort: p }, 200)).toMatchObject({ status: 'down', detail: expect.stringContaining('no answer within 200 ms') })
    expect(Date.now() - t0).toBeLessThan(2000)
    mute.closeAllConnections()
    await new Promise(resolve => mute.close(resolve))
  })
})

describe('deploy --wait progress', () => {
  function out (): Writable & { text: () => string } {
    let t = ''
    const w = new Writable({ write (c, _e, cb) { t += String(c); cb() } }) as Writable & { text: () => string }
    w.text = () => t
    return w
  }
  const ev = (path: string, state: EngineEvent['state'], message = state ?? ''): EngineEvent => ({ time: 0, host: 'h', pool: 'p', path, kind: 'state', state, message })

  it('prints plain lines when not on a terminal', () => {
    const o = out()
    const p = new DeployProgress(o, false)
    p.event(ev('vm1', 'deployed')); p.event({ ...ev('vm1', undefined), kind: 'log', message: 'x' }); p.event(ev('', 'running'))
    p.finish('pool p running')
    expect(o.text()).toBe('  vm1                  deployed\n  (root)               running\npool p running\n')
  })

  it('redraws one line per component in place on a terminal', () => {
    const o = out()
    const p = new DeployProgress(o, true)
    p.event(ev('vm1', 'deploying')); p.event(ev('shell', 'deployed')); p.event(ev('vm1', 'running'))
    expect(p.lines()).toEqual(['  ✓ vm1       running', '  · shell     deployed'])
    // Second and third draws go back up over the block they drew before.
    const draws = o.text().split(/(?=\x1b\[\dF)/)
    expect(draws).toHaveLength(3)
    expect(draws[1]!.startsWith('\x1b[1F')).toBe(true)
    expect(draws[2]!.startsWith('\x1b[2F')).toBe(true)
    expect(draws[2]).toContain('\x1b[2K  ✓ vm1       running\n')
    p.finish('pool p running after 0.1 s')
    p.event(ev('vm1', 'terminated'))
    expect(o.text().endsWith('pool p running after 0.1 s\n')).toBe(true)
  })

  it('keeps control characters from a description off the terminal', () => {
    const o = out()
    const p = new DeployProgress(o, true)
    p.event(ev('vm1', 'failed', 'bad \x1b[31m red'))
    expect(p.lines()[0]).toContain('bad \\x1b[31m red')
  })
})

describe('hosts from the mesh', () => {
  it('maps directory entries and liveness; guest names and addresses for this host from its engine', async () => {
    const { meshHostsProvider } = await import('../../node/api/console/mesh-hosts.ts')
    const engine = {
      status: () => [{ pool: 'p', state: 'running' as const, components: [{ path: 'vm', type: 'XenDomain', host: 'a', state: 'running' as const }] }],
      get: () => ({ hostname: 'g1', ip: '10.0.0.5', memory: 128, vcpus: 2 })
    }
    const mesh = {
      hosts: () => [
        { peerId: 'P1', hostNames: ['a'], addrs: ['/ip4/127.0.0.1/tcp/1'], state: 'self' as const, capacity: { memoryMb: 4096, vcpus: 4 }, load: { memoryMb: 0, vcpus: 0, domains: 0 }, driver: 'sim', misbehaviour: 0 },
        { peerId: 'P2', hostNames: ['b'], addrs: [], state: 'suspect' as const, capacity: { memoryMb: 2048, vcpus: 2 }, load: { memoryMb: 512, vcpus: 1, domains: 1 }, driver: 'qemu', misbehaviour: 0 },
        { peerId: 'P3', hostNames: [], addrs: [], state: 'dead' as const, misbehaviour: 0 }
      ]
    }
    const hosts = await meshHostsProvider(mesh, engine).listHosts()
    expect(hosts.map(h => [h.name, h.state])).toEqual([['a', 'alive'], ['b', 'suspect'], ['P3', 'dead']])
    expect(hosts[0]).toMatchObject({ capacity: { memoryMiB: 4096, vcpus: 4 }, load: { domains: 1, memoryMiB: 128, vcpus: 2 }, hostNamesInUse: ['g1'], addressesInUse: ['10.0.0.5'] })
    expect(hosts[1]).toMatchObject({ load: { domains: 1, memoryMiB: 512, vcpus: 1 }, driver: 'qemu', hostNamesInUse: [] })
    // Other hosts' guests from the mesh's VMs; images from the announcements.
    const withImages = { hosts: () => mesh.hosts().map(h => h.peerId === 'P2' ? { ...h, images: ['debian-12'] } : h) }
    const vms = async () => [{ host: 'b', hostname: 'w2', ip: '10.0.0.7' }, { host: 'b', hostname: 'w1', ip: '10.0.0.6' }, { host: 'a', hostname: 'g1', ip: '10.0.0.5' }]
    const more = await meshHostsProvider(withImages, engine, vms).listHosts()
    expect(more[1]).toMatchObject({ images: ['debian-12'], hostNamesInUse: ['w1', 'w2'], addressesInUse: ['10.0.0.6', '10.0.0.7'] })
    const broken = await meshHostsProvider(mesh, engine, async () => { throw new Error('peer gone') }).listHosts()
    expect(broken[1]).toMatchObject({ hostNamesInUse: [] })
  })
})

describe('images from the warehouse', () => {
  it('lists warehouse records by name, escaped in the view', async () => {
    const { warehouseImagesProvider } = await import('../../node/api/console/providers.ts')
    const { imagesView } = await import('../../node/api/console/views.ts')
    const id = 'ab'.repeat(32)
    const provider = warehouseImagesProvider({ list: async () => [{ id, format: 'raw', size: 3 * 1048576, names: ['<deb>'], source: 'build' }, { id: 'cd'.repeat(32), format: 'qcow2', size: 0, names: [], source: 'import' }] }, 'h1')
    const images = await provider.listImages()
    expect(images.map(i => i.name)).toEqual(['<deb>', 'cdcdcdcdcdcd'])
    const text = imagesView(images).text
    expect(text).toContain('<td>&lt;deb&gt;</td><td><code>abababababab</code></td><td>raw</td><td>build</td>')
    expect(text).toContain('3.0 MiB')
    // The real warehouse fits the provider's shape.
    const { Warehouse } = await import('../../node/images/warehouse.ts')
    const w = new Warehouse(dir)
    warehouseImagesProvider(w, 'h1')
  })
})
