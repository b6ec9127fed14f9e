import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fileURLToPath } from 'node:url'
import { Cluster } from '../../simulations/cluster/cluster.ts'

// The scheduler hook in the daemon: examples/scheduler/dispatch.sf names no host for its VMs; the peer taking the
// deploy gives each child of the Schedulee an sfProcessHost from its view of the mesh (node/scheduler/assign.ts),
// then the two-phase deploy sends each VM to that host's daemon. Three real daemons named as the example's
// Scheduler lists them.

const DISPATCH = fileURLToPath(new URL('../../examples/scheduler/dispatch.sf', import.meta.url))
const HOSTS = ['host1', 'host2', 'host3']
let cluster: Cluster

beforeAll(async () => {
  cluster = await Cluster.start({ hosts: HOSTS.map(host => ({ host, args: ['--allow-path', 'ro:/boot'] })) })
  const ds = cluster.daemons
  const deadline = Date.now() + 30_000
  // Whole, and every host's announcement (capacity) in the entry peer's directory: the scheduler places from it.
  for (;;) {
    const h = await cluster.call(0, 'hosts', {})
    const whole = ds.every(o => ds.every(s => s === o || o.stateOf(s.peerId) === 'alive'))
    if (whole && h.hosts.filter(x => x.capacity !== undefined && (x.state === 'alive' || x.state === 'self')).length === 3) break
    if (Date.now() > deadline) throw new Error('mesh did not form')
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}, 60_000)

afterAll(async () => { await cluster?.stop() })

describe('scheduled deploy through the daemons', () => {
  it('places every Schedulee child on a host of the mesh, each VM running on the daemon it was given to', async () => {
    const dep = await cluster.cli(0, ['deploy', DISPATCH, '--name', 'disp', '--wait', '--json'])
    expect(dep.stderr).toBe('')
    expect(dep.code).toBe(0)
    const st = JSON.parse(dep.stdout) as { state: string, components: Array<{ path: string, type: string, host: string, state: string }> }
    expect(st.state).toBe('running')
    const vms = st.components.filter(c => c.type === 'XenDomain')
    expect(vms).toHaveLength(4)
    expect(vms.every(v => v.state === 'running' && HOSTS.includes(v.host))).toBe(true)
    // Spread: four VMs of 512-1024 MiB on three empty 64 GiB hosts do not all land on one.
    expect(new Set(vms.map(v => v.host)).size).toBeGreaterThan(1)
    // Each VM is in the engine of the daemon its status names, and in no other.
    for (const [i, host] of HOSTS.entries()) {
      const local = await cluster.call(i, 'status', { local: true })
      const here = local.flatMap(p => p.components.filter(c => c.type === 'XenDomain').map(c => c.host))
      expect(here).toEqual(vms.filter(v => v.host === host).map(() => host))
    }
    // VMShop's attribute query from a peer that took no part in the deploy: every VM of the mesh, its host and state.
    const q = await cluster.cli(1, ['query', 'memory >= 1024 && hostname ~ "worker-*"', '--json'])
    expect(q.stderr).toBe('')
    expect(q.code).toBe(0)
    const hits = JSON.parse(q.stdout) as Array<{ pool: string, path: string, host: string, state: string, memory: number, hostname: string }>
    const big = vms.filter(v => v.path.endsWith('unique26'))
    expect(hits.map(h => [h.pool, h.path, h.host, h.state, h.hostname])).toEqual(big.map(v => ['disp', v.path, v.host, 'running', 'worker-3']))
    const bad = await cluster.cli(1, ['query', 'memory >= && x'])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('column 11')
    const term = await cluster.cli(2, ['terminate', 'disp'])
    expect(term.code).toBe(0)
    for (let i = 0; i < HOSTS.length; i++) expect(await cluster.call(i, 'status', { local: true })).toEqual([])
  }, 40_000)
})
