import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startDaemon } from '../../node/daemon/daemon.ts'
import type { Daemon } from '../../node/daemon/daemon.ts'
import { createEngineHandler } from '../../node/api/engine-handler.ts'
import type { ApiHandler } from '../../node/api/server.ts'
import type { Request } from '../../node/api/messages.ts'
import { startConsole } from '../../node/api/console/index.ts'
import type { RunningConsole } from '../../node/api/console/index.ts'
import { csrfFor, readToken } from '../../node/api/console/token.ts'
import type { PoolStatus } from '../../node/engine/types.ts'
import { enginePoolName } from '../../node/deploy/engine-adapter.ts'
import { MESH_POOL, quietLog } from './fixture.ts'

// A console given the daemon's control-API handler shows and changes a pool whose parts live on two peers (two real
// daemons with the libp2p mesh on loopback): the tree with each component's host, a remote attribute changed, the
// pool terminated, all from the console of the host that took the deploy.

let root: string
const daemons: Daemon[] = []
let handler: ApiHandler
let console_: RunningConsole
let token: string
let stateDir2: string

const call = async (req: Record<string, unknown>): Promise<unknown> =>
  await handler.handle({ id: 1, ...req } as unknown as Request, { emit: () => {}, signal: new AbortController().signal })

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'sdpeer-console-mesh-'))
  const d1 = await startDaemon({ host: 'machine9.cern.ch', stateDir: join(root, 'm9'), driver: 'sim', insecure: true, mesh: {}, logStream: quietLog() })
  daemons.push(d1)
  stateDir2 = join(root, 'm11')
  const d2 = await startDaemon({ host: 'machine11.cern.ch', stateDir: stateDir2, driver: 'sim', insecure: true, mesh: { bootstrap: d1.mesh!.node.multiaddrs() }, logStream: quietLog() })
  daemons.push(d2)
  const end = Date.now() + 10_000
  while (d2.mesh!.node.resolveHost('machine9.cern.ch') === undefined) {
    if (Date.now() > end) throw new Error('machine11 never learned machine9')
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  handler = createEngineHandler(d2.engine, { host: d2.host, driver: 'sim', version: 'test' }, undefined, d2.mesh)
  await call({
    op: 'deploy',
    pool: 'meshpool',
    wait: true,
    config: MESH_POOL
  })
  console_ = await startConsole({ listen: '127.0.0.1:0', host: d2.host, driverName: 'sim', stateDir: stateDir2, engine: d2.engine, driver: d2.driver, api: handler, urlFile: 'if-absent' })
  token = await readToken(stateDir2)
}, 30_000)

afterAll(async () => {
  await console_?.close()
  for (const d of daemons.reverse()) await d.stop()
  await rm(root, { recursive: true, force: true })
})

const auth = (): Record<string, string> => ({ authorization: `Bearer ${token}` })
const post = async (path: string, body: unknown): Promise<Response> => await fetch(new URL(path, console_.url), {
  method: 'POST',
  headers: { ...auth(), 'content-type': 'application/json', 'x-sdpeer-csrf': csrfFor(token) },
  body: JSON.stringify(body)
})

describe('the console over the daemon\'s handler (pools across the mesh)', () => {
  it('lists the pool with the components of both hosts', async () => {
    const status = await (await fetch(new URL('/api/status', console_.url), { headers: auth() })).json() as PoolStatus[]
    const p = status.find(x => x.pool === 'meshpool')!
    expect(p.state).toBe('running')
    expect(p.components.find(c => c.path === 'computer1:worker')?.host).toBe('machine9.cern.ch')
    expect(p.components.find(c => c.path === 'here')?.host).toBe('machine11.cern.ch')

    const page = await (await fetch(new URL('/pool?name=meshpool', console_.url), { headers: auth() })).text()
    expect(page).toContain('data-component="computer1:worker"')
    expect(page).toContain('machine9.cern.ch')
  })

  it('changes an attribute of a component on the other host and terminates the pool', async () => {
    const set = await post('/api/set', { pool: 'meshpool', path: 'computer1:worker', attr: 'size', value: '42' })
    expect(set.status).toBe(200)
    expect(await set.json()).toEqual({ value: '42' })
    // The value lives on machine9, in the engine pool of the part it holds.
    expect(daemons[0]!.engine.get(enginePoolName('meshpool', 'computer1'), 'worker', 'size')).toBe(42)
    expect(await call({ op: 'get', pool: 'meshpool', path: 'computer1:worker', attr: 'size' })).toEqual({ value: 42 })

    const term = await post('/api/terminate', { pool: 'meshpool', path: '', type: 'normal' })
    expect(term.status).toBe(200)
    expect(((await term.json()) as { status: PoolStatus }).status.state).toBe('terminated')
    // Both hosts' engines let go of their parts.
    expect(daemons[0]!.engine.status().filter(p => p.state === 'running')).toEqual([])
    expect(daemons[1]!.engine.status().filter(p => p.state === 'running')).toEqual([])
  })
})
