import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chmod, mkdtemp, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createLibp2p } from 'libp2p'
import type { Libp2p } from 'libp2p'
import { tcp } from '@libp2p/tcp'
import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { ping } from '@libp2p/ping'
import type { Ping } from '@libp2p/ping'
import { preSharedKey } from '@libp2p/pnet'
import { createPoolKeyFile, generatePoolKeyText, loadPoolKey, parsePoolKey, PoolKeyError } from '../../node/security/pool-key.ts'
import type { PoolKey } from '../../node/security/pool-key.ts'

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'sdpeer-poolkey-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('pool key file', () => {
  it('generates the swarm.key format and parses it back', () => {
    const text = generatePoolKeyText()
    expect(text).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
    const key = parsePoolKey(text)
    expect(key.psk).toHaveLength(32)
    expect(Buffer.from(key.psk).toString('hex')).toBe(text.split('\n')[2])
    expect(key.fingerprint).toMatch(/^[0-9a-f]{16}$/)
    expect(generatePoolKeyText()).not.toBe(text)
  })

  it('accepts CRLF and upper-case hex, handing pnet a canonical lower-case key', () => {
    const hex = 'AB'.repeat(32)
    const key = parsePoolKey(`/key/swarm/psk/1.0.0/\r\n/base16/\r\n${hex}\r\n`)
    expect(Buffer.from(key.protectorKey).toString()).toBe(`/key/swarm/psk/1.0.0/\n/base16/\n${'ab'.repeat(32)}`)
  })

  it('names precisely what is wrong with a bad file', () => {
    const bad: Array<[string, RegExp]> = [
      ['', /3 lines/],
      ['/key/swarm/psk/1.0.0/\n/base64/\n' + 'a'.repeat(64), /line 2/],
      ['/key/other/\n/base16/\n' + 'a'.repeat(64), /line 1/],
      ['/key/swarm/psk/1.0.0/\n/base16/\n' + 'a'.repeat(63), /line 3 must be 64 hex digits/],
      ['/key/swarm/psk/1.0.0/\n/base16/\n' + 'g'.repeat(64), /line 3/],
      ['/key/swarm/psk/1.0.0/\n/base16/\n' + '0'.repeat(64), /all zeros/]
    ]
    for (const [text, re] of bad) {
      expect(() => parsePoolKey(text, 'pool.key')).toThrow(PoolKeyError)
      expect(() => parsePoolKey(text, 'pool.key')).toThrow(re)
    }
  })

  it('creates the file mode 0600, refuses to overwrite, and warns when others may read it', async () => {
    const file = join(dir, 'created.key')
    const made = await createPoolKeyFile(file)
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    await expect(createPoolKeyFile(file)).rejects.toThrow(/exists already/)
    const loaded = await loadPoolKey(file)
    expect(loaded.fingerprint).toBe(made.fingerprint)
    expect(loaded.warnings).toEqual([])
    await chmod(file, 0o644)
    expect((await loadPoolKey(file)).warnings[0]).toMatch(/chmod 600/)
    await expect(loadPoolKey(join(dir, 'missing.key'))).rejects.toThrow(/no such file/)
  })
})

describe('pool key with @libp2p/pnet over real TCP', () => {
  const nodes: Array<Libp2p<{ ping: Ping }>> = []
  afterAll(async () => { await Promise.all(nodes.map(n => n.stop())) })

  async function node (key: PoolKey): Promise<Libp2p<{ ping: Ping }>> {
    const n = await createLibp2p({
      addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
      transports: [tcp()],
      connectionEncrypters: [noise()],
      streamMuxers: [yamux()],
      connectionProtector: preSharedKey({ psk: key.protectorKey }),
      services: { ping: ping() }
    })
    nodes.push(n)
    return n
  }

  it('peers with the same key connect and ping; a peer with another key is refused before any protocol runs', async () => {
    const file = join(dir, 'mesh.key')
    await writeFile(file, generatePoolKeyText(), { mode: 0o600 })
    const key = await loadPoolKey(file)
    const a = await node(key)
    const b = await node(await loadPoolKey(file))
    const stranger = await node(parsePoolKey(generatePoolKeyText()))
    const addr = a.getMultiaddrs()[0]
    const rtt = await b.services.ping.ping(addr, { signal: AbortSignal.timeout(5000) })
    expect(rtt).toBeGreaterThanOrEqual(0)
    await expect(stranger.services.ping.ping(addr, { signal: AbortSignal.timeout(1500) })).rejects.toThrow()
    expect(a.getConnections().map(c => c.remotePeer.toString())).not.toContain(stranger.peerId.toString())
  })
})
