import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Writable } from 'node:stream'
import { mkdtemp, readFile, rm, stat, chmod } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { main } from '../../cli/main.ts'
import { isPublicKeyText, ReplayCache, signRequest, verifyRequest } from '../../protocol/auth/index.ts'
import { loadOperatorKey } from '../../node/security/operator-key.ts'
import { loadPoolKey } from '../../node/security/pool-key.ts'
import { TrustStore } from '../../node/security/trust-store.ts'

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'sdpeer-cli-sec-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

async function sdpeer (args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number, out: string, err: string }> {
  const chunks = { out: [] as Buffer[], err: [] as Buffer[] }
  const sink = (into: Buffer[]) => new Writable({ write (c, _e, cb) { into.push(Buffer.from(c)); cb() } })
  const code = await main(args, { stdout: sink(chunks.out), stderr: sink(chunks.err), env: { HOME: join(dir, 'home'), ...env }, cwd: dir })
  return { code, out: Buffer.concat(chunks.out).toString(), err: Buffer.concat(chunks.err).toString() }
}

describe('sdpeer keygen', () => {
  it('operator: writes a 0600 key in the XDG config dir and prints the public key trust add takes', async () => {
    const xdg = join(dir, 'xdg')
    const r = await sdpeer(['keygen', 'operator'], { XDG_CONFIG_HOME: xdg })
    expect(r.code).toBe(0)
    const pub = r.out.trim()
    expect(isPublicKeyText(pub)).toBe(true)
    const file = join(xdg, 'sdpeer', 'operator.key')
    expect((await stat(file)).mode & 0o777).toBe(0o600)
    expect((await loadOperatorKey(file)).publicText).toBe(pub)
    expect((await sdpeer(['keygen', 'operator', '--public'], { XDG_CONFIG_HOME: xdg })).out.trim()).toBe(pub)
    const again = await sdpeer(['keygen', 'operator'], { XDG_CONFIG_HOME: xdg })
    expect(again.code).toBe(1)
    expect(again.err).toContain('exists already')
  })

  it('operator: falls back to ~/.config, and refuses a key file others can read', async () => {
    const r = await sdpeer(['keygen', 'operator'])
    expect(r.code).toBe(0)
    const file = join(dir, 'home', '.config', 'sdpeer', 'operator.key')
    await chmod(file, 0o644)
    const p = await sdpeer(['keygen', 'operator', '--public'])
    expect(p.code).toBe(1)
    expect(p.err).toContain('too open')
  })

  it('pool: prints a valid swarm.key, or writes one mode 0600 with --out', async () => {
    const r = await sdpeer(['keygen', 'pool'])
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
    expect((await sdpeer(['keygen', 'pool', '--out', 'p.key'])).code).toBe(0)
    expect((await stat(join(dir, 'p.key'))).mode & 0o777).toBe(0o600)
    expect((await loadPoolKey(join(dir, 'p.key'))).psk).toHaveLength(32)
    expect((await sdpeer(['keygen', 'banana'])).code).toBe(2)
  })
})

describe('sdpeer trust', () => {
  it('adds, lists, updates and removes keys in the state dir trust store', async () => {
    const state = join(dir, 'trust-state')
    const k1 = (await sdpeer(['keygen', 'operator', '--out', 'k1'])).out.trim()
    const k2 = (await sdpeer(['keygen', 'operator', '--out', 'k2'])).out.trim()
    expect((await sdpeer(['trust', 'add', k1, '--role', 'admin', '--state-dir', state])).out).toContain('trusted')
    expect((await sdpeer(['trust', 'add', k2, '--role', 'operator', '--pools', 'web-*', '--pools', 'db', '--state-dir', state])).code).toBe(0)
    const ls = JSON.parse((await sdpeer(['trust', 'ls', '--json', '--state-dir', state])).out)
    expect(ls.map((e: { key: string, role: string, pools: string[] }) => [e.key, e.role, e.pools])).toEqual([[k1, 'admin', ['*']], [k2, 'operator', ['web-*', 'db']]])
    expect((await stat(join(state, 'trust.json'))).mode & 0o777).toBe(0o600)
    expect((await sdpeer(['trust', 'add', k2, '--role', 'viewer', '--state-dir', state])).out).toContain('updated')
    expect((await sdpeer(['trust', 'ls', '--state-dir', state])).out).toMatch(/viewer\s+\*\s+ed25519:/)
    const last = await sdpeer(['trust', 'rm', k1, '--state-dir', state])
    expect(last.code).toBe(1)
    expect(last.err).toContain('last admin')
    expect((await sdpeer(['trust', 'rm', k2, '--state-dir', state])).code).toBe(0)
    expect((await sdpeer(['trust', 'rm', k2, '--state-dir', state])).code).toBe(1)
    expect((await sdpeer(['trust', 'rm', k1, '--force', '--state-dir', state])).code).toBe(0)
    expect(JSON.parse((await sdpeer(['trust', 'ls', '--json', '--state-dir', state])).out)).toEqual([])
  })

  it('refuses bad keys, roles and globs as usage errors', async () => {
    const state = join(dir, 'trust-bad')
    expect((await sdpeer(['trust', 'add', 'ed25519:short', '--role', 'admin', '--state-dir', state])).code).toBe(2)
    const k = (await sdpeer(['keygen', 'operator', '--out', 'k3'])).out.trim()
    expect((await sdpeer(['trust', 'add', k, '--role', 'root', '--state-dir', state])).code).toBe(2)
    expect((await sdpeer(['trust', 'add', k, '--role', 'operator', '--pools', 'a/b', '--state-dir', state])).code).toBe(2)
    expect((await sdpeer(['trust', 'ls'])).code).toBe(2)
  })
})

describe('sdpeer init', () => {
  it('sets up a first host whose trust store accepts requests signed with the new operator key', async () => {
    const state = join(dir, 'host1')
    const env = { XDG_CONFIG_HOME: join(dir, 'init-xdg') }
    const r = await sdpeer(['init', '--state-dir', state, '--host', 'machine9.cern.ch'], env)
    expect(r.code).toBe(0)
    const op = await loadOperatorKey(join(dir, 'init-xdg', 'sdpeer', 'operator.key'))
    expect(r.out).toContain(`sdpeer trust add ${op.publicText} --role admin`)
    expect(r.out).toContain(join(state, 'pool.key'))
    expect((await stat(state)).mode & 0o777).toBe(0o700)
    const pool = await loadPoolKey(join(state, 'pool.key'))
    expect(pool.warnings).toEqual([])
    const trust = await TrustStore.open(state)
    const env1 = signRequest(op.privateKey, 'forget', undefined, { host: 'x' })
    expect(verifyRequest(env1, { host: 'x' }, trust, new ReplayCache(), Date.now()).role).toBe('admin')

    const before = await readFile(join(state, 'pool.key'), 'utf8')
    const again = await sdpeer(['init', '--state-dir', state, '--host', 'machine9.cern.ch'], env)
    expect(again.code).toBe(0)
    expect(again.out).toContain('kept')
    expect(await readFile(join(state, 'pool.key'), 'utf8')).toBe(before)
    expect((await TrustStore.open(state)).size).toBe(1)
  })

  it('refuses a broken pool key file rather than overwriting it', async () => {
    const state = join(dir, 'host2')
    await sdpeer(['init', '--state-dir', state, '--host', 'h2'], { XDG_CONFIG_HOME: join(dir, 'x2') })
    await import('node:fs/promises').then(fs => fs.writeFile(join(state, 'pool.key'), 'garbage'))
    const r = await sdpeer(['init', '--state-dir', state, '--host', 'h2'], { XDG_CONFIG_HOME: join(dir, 'x2') })
    expect(r.code).toBe(1)
    expect(r.err).toContain('pool.key')
    expect(await readFile(join(state, 'pool.key'), 'utf8')).toBe('garbage')
    expect((await sdpeer(['init', '--state-dir', state, '--host', 'bad host'])).code).toBe(2)
  })
})
