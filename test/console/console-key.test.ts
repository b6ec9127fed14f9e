import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Cluster } from '../../simulations/cluster/cluster.ts'
import { CONSOLE_KEY_FILE } from '../../node/api/console/operator.ts'
import { csrfFor } from '../../node/api/console/token.ts'
import { loadOperatorKey } from '../../node/security/operator-key.ts'
import { TrustStore } from '../../node/security/trust-store.ts'
import { MESH_POOL } from './fixture.ts'

// The console of a secure daemon acts as an operator of its own: its changes are signed with the host's console key
// and pass the same gate as the CLI's. Two real `sdpeer join` processes (pool key, trust stores naming the cluster's
// operator admin), a pool with a part on each; the console of the host that took the deploy tries to change the
// part on the other host and to terminate the pool: refused, with the key and the command that trusts it, until an
// admin trusts that key on the host; refused by the owner while only the entry trusts it; done once both do.

const ENTRY = 1
let cluster: Cluster
let consoleUrl: string
let token: string
let consoleKey: string

async function waitFor (what: string, fn: () => Promise<boolean>, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}

async function trustConsoleKeyOn (i: number): Promise<void> {
  const trust = await TrustStore.open(cluster.daemon(i).stateDir)
  trust.add(consoleKey, 'operator', ['*'], { comment: 'console of machine11' })
  await trust.save()
}

const post = async (path: string, body: unknown): Promise<{ status: number, json: { error?: { name: string, message: string }, value?: string, status?: { state: string } } }> => {
  const r = await fetch(new URL(path, consoleUrl), {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-sdpeer-csrf': csrfFor(token) },
    body: JSON.stringify(body)
  })
  return { status: r.status, json: await r.json() as never }
}

const size = async (): Promise<unknown> => (await cluster.call(ENTRY, 'get', { pool: 'meshpool', path: 'computer1:worker', attr: 'size' })).value

beforeAll(async () => {
  cluster = await Cluster.start({ hosts: ['machine9.cern.ch', { host: 'machine11.cern.ch', args: ['--console', '127.0.0.1:0'] }] })
  const entry = cluster.daemon(ENTRY)
  await waitFor('machine11 to know machine9', async () => (await cluster.call(ENTRY, 'hosts', {})).hosts.some(h => h.hostNames.includes('machine9.cern.ch')))
  await cluster.call(ENTRY, 'deploy', {
    pool: 'meshpool',
    wait: true,
    config: MESH_POOL
  })
  consoleUrl = (await readFile(join(entry.stateDir, 'console.url'), 'utf8')).trim()
  token = (await readFile(join(entry.stateDir, 'console.token'), 'utf8')).trim()
  consoleKey = (await loadOperatorKey(join(entry.stateDir, CONSOLE_KEY_FILE))).publicText
}, 90_000)

afterAll(async () => {
  await cluster?.stop()
})

describe('console changes in a secure mesh', () => {
  it('are refused while no host trusts the console key, with the key and the command that trusts it', async () => {
    const set = await post('/api/set', { pool: 'meshpool', path: 'computer1:worker', attr: 'size', value: '42' })
    expect(set.status).toBe(403)
    expect(set.json.error?.name).toBe('ConsoleAuthError')
    expect(set.json.error?.message).toContain("is not in this peer's trust store")
    expect(set.json.error?.message).toContain(`sdpeer trust add ${consoleKey} --role operator`)
    const term = await post('/api/terminate', { pool: 'meshpool', path: '', type: 'normal' })
    expect(term.status).toBe(403)
    expect(term.json.error?.name).toBe('ConsoleAuthError')
    expect(await size()).toBe(1)
    expect((await cluster.call(ENTRY, 'status', { pool: 'meshpool' }))[0]?.state).toBe('running')

    // `sdpeer console` prints the URL on stdout, the key and the command on stderr.
    const printed = await cluster.cli(ENTRY, ['console', '--state-dir', cluster.daemon(ENTRY).stateDir])
    expect(printed.code, printed.stderr).toBe(0)
    expect(printed.stdout.trim()).toBe(`${consoleUrl}?token=${token}`)
    expect(printed.stderr).toContain('this host does not trust it')
    expect(printed.stderr).toContain(`sdpeer trust add ${consoleKey} --role operator`)
  })

  it('are refused by the owner of a part on a host that does not trust the key', async () => {
    await trustConsoleKeyOn(ENTRY)
    const set = await post('/api/set', { pool: 'meshpool', path: 'computer1:worker', attr: 'size', value: '42' })
    expect(set.status).toBe(403)
    expect(set.json.error?.name).toBe('ConsoleAuthError')
    // machine9's refusal, carried back through the entry.
    expect(set.json.error?.message).toContain(`${cluster.daemon(0).peerId}: AuthError: unknown-key`)
    expect(set.json.error?.message).toContain(`sdpeer trust add ${consoleKey} --role operator`)
    expect(await size()).toBe(1)
  })

  it('change a part on another peer and terminate the pool once every host trusts the key', async () => {
    await trustConsoleKeyOn(0)
    const set = await post('/api/set', { pool: 'meshpool', path: 'computer1:worker', attr: 'size', value: '42' })
    expect(set.status, JSON.stringify(set.json)).toBe(200)
    expect(set.json.value).toBe('42')
    expect(await size()).toBe(42)
    const printed = await cluster.cli(ENTRY, ['console', '--state-dir', cluster.daemon(ENTRY).stateDir])
    expect(printed.stderr).toContain('this host trusts it as operator')

    const term = await post('/api/terminate', { pool: 'meshpool', path: '', type: 'normal' })
    expect(term.status, JSON.stringify(term.json)).toBe(200)
    expect(term.json.status?.state).toBe('terminated')
    // machine9's own engine let go of its part.
    const local = await cluster.call(0, 'status', { local: true })
    expect(local.filter(p => p.state === 'running')).toEqual([])
  })
})
