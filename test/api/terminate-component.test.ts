import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { rm } from 'node:fs/promises'
import { join } from 'node:path'
import { startDaemon } from '../../node/daemon/daemon.ts'
import type { Daemon } from '../../node/daemon/daemon.ts'
import { ApiRequestError, parseRequest } from '../../node/api/messages.ts'
import { signApiRequest, verifyApiRequest } from '../../node/security/request-auth.ts'
import type { ApiLikeRequest } from '../../node/security/request-auth.ts'
import { generateOperatorKey, ReplayCache } from '../../protocol/auth/index.ts'
import { sdpeer } from '../e2e/harness.ts'
import { quietLog, workDir } from '../console/fixture.ts'

// `terminate` with a component path through the control API: validation, the operator's signature covering the
// path, and `sdpeer terminate POOL:PATH` against a real daemon (in this process: sim driver, real engine).

describe('terminate requests with a path', () => {
  it('keeps the path as sent (even ""), refuses a malformed one', () => {
    expect(parseRequest({ id: 1, op: 'terminate', pool: 'web', path: 'vm1:disk' })).toEqual({ id: 1, op: 'terminate', pool: 'web', type: 'normal', path: 'vm1:disk' })
    expect(parseRequest({ id: 2, op: 'terminate', pool: 'web', path: '' })).toEqual({ id: 2, op: 'terminate', pool: 'web', type: 'normal', path: '' })
    for (const path of ['a::b', 'a b', 7, 'x;rm']) {
      expect(() => parseRequest({ id: 3, op: 'terminate', pool: 'web', path })).toThrow(ApiRequestError)
    }
  })

  it('the operator\'s signature covers the path: another component, or none, does not verify', () => {
    const k = generateOperatorKey()
    const trust = { lookup: (key: string) => key === k.publicText ? { key, role: 'operator' as const, pools: ['*'] } : undefined }
    const signed = signApiRequest(k.privateKey, { op: 'terminate', pool: 'web', type: 'normal', path: 'vm1' } as ApiLikeRequest)
    expect(verifyApiRequest(signed, trust, new ReplayCache(), Date.now())?.operator).toBeDefined()
    expect(() => verifyApiRequest({ ...signed, path: 'myShell' }, trust, new ReplayCache(), Date.now())).toThrow(/body-mismatch/)
    const { path: _gone, ...whole } = signed as ApiLikeRequest & { path?: string }
    expect(() => verifyApiRequest(whole, trust, new ReplayCache(), Date.now())).toThrow(/body-mismatch/)
  })
})

let dir: string
let daemon: Daemon

beforeAll(async () => {
  let pool: string
  ({ dir, pool } = await workDir('term-comp'))
  daemon = await startDaemon({ host: 'h1', stateDir: join(dir, 'state'), driver: 'sim', insecure: true, logStream: quietLog() })
  for (const name of ['web', 'db']) {
    const dep = await sdpeer(daemon.apiPath, ['deploy', pool, '--name', name, '--wait'])
    expect(dep.code, dep.stderr).toBe(0)
  }
})

afterAll(async () => {
  await daemon?.stop()
  await rm(dir, { recursive: true, force: true })
})

describe('sdpeer terminate POOL:PATH', () => {
  it('ends that component only; the parent (sfSyncTerminate false) and the rest run on', async () => {
    const r = await sdpeer(daemon.apiPath, ['terminate', 'web:vm1', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const st = JSON.parse(r.stdout) as { state: string, components: Array<{ path: string, state: string }> }
    expect(st.state).toBe('running')
    expect(st.components.map(c => `${c.path}=${c.state}`)).toEqual(['=running', 'myShell=running', 'vm1=terminated'])
    // The VM is gone from the hypervisor; the other pool's is not.
    const status = JSON.parse((await sdpeer(daemon.apiPath, ['status', 'db', '--json'])).stdout) as { state: string }
    expect(status.state).toBe('running')
  })

  it('--abnormal leaves the component failed (exit 1, as for a pool); an unknown path is named, exit 1', async () => {
    const r = await sdpeer(daemon.apiPath, ['terminate', 'db:myShell', '--abnormal', '--reason', 'shell wedged'])
    expect(r.code).toBe(1)
    expect(r.stdout).toMatch(/myShell\s.*failed.*shell wedged/)
    const nope = await sdpeer(daemon.apiPath, ['terminate', 'db:nope'])
    expect(nope.code).not.toBe(0)
    expect(nope.stderr).toMatch(/db:nope: no such component/)
    const bad = await sdpeer(daemon.apiPath, ['terminate', 'db:a b'])
    expect(bad.stderr).toMatch(/path/)
  })

  it('POOL alone still terminates the whole pool; --help names POOL:PATH', async () => {
    expect((await sdpeer(daemon.apiPath, ['terminate', 'web'])).code).toBe(0)
    const help = await sdpeer(daemon.apiPath, ['terminate', '--help'])
    expect(help.stdout).toContain('sdpeer terminate POOL[:COMPONENT[:COMPONENT...]]')
    expect(help.stdout).toContain('sfSyncTerminate')
  })
})
