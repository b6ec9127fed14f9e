import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Cluster } from '../../simulations/cluster/cluster.ts'
import { until as waitUntil } from './cluster-wait.ts'
import { hrwOrder } from '../../node/scheduler/coordinator.ts'

// Issue 6 in the real daemons, the case mesh-replace.test.ts steers clear of: the host that took the deploy holds
// the pool's root AND is its coordinator (the pool name ranks it first in HRW order). SIGKILL it: the next
// coordinator deploys the root again on itself at epoch 2 from the replicated record (plan and operator proof,
// checked by the new host's signature verifier), re-places any VM the dead host ran, the surviving VMs follow their
// new parent, `status` from two other peers says the pool runs; the old host, restarted, fences its copy of the
// root; and `terminate` from a third peer ends every part on every host.

const ARGS = ['--allow-path', 'ro:/boot']
const HOSTS = ['entry', 'h1', 'h2', 'h3']
const VMS = ['vm1', 'vm2', 'vm3', 'vm4']
let cluster: Cluster
let file: string

// sfLivenessDelay 2: parents ping every 2 s, so a child misses its dead parent within the test's time.
const description = `#include "org/smartfrog/components.sf"
#include "ch/cern/openlab/smartdomains/components.sf"
VM extends XenDomain { kernel "/boot/vmlinuz-2.6-xen"; memory 512; vcpus 1; }
sfConfig extends Compound {
    sfLivenessDelay 2;
    sched extends Scheduler { hosts [|${HOSTS.map(s => `"${s}"`).join(', ')}|]; }
    vms extends Schedulee {
        scheduler LAZY ATTRIB sched;
${VMS.map((v, i) => `        ${v} extends VM { hostname "${v}"; ip "192.0.2.${41 + i}"; }`).join('\n')}
    }
    pinned extends VM { sfProcessHost "h1"; hostname "pinned"; ip "192.0.2.49"; }
}
`
/** Every VM of the pool: the scheduled ones and the one pinned on h1 (so the pool has a participant besides entry). */
const ALL_VMS = VMS.length + 1

const LOGS = /re-plac|re-parent|orphan|parent lost|fenc|refused|interrupted|failed/
const until = async <T> (what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> => await waitUntil(cluster, what, timeoutMs, probe, LOGS)

interface Seen { state: string, root: string, vms: Map<string, string> }

/** The pool as daemon i's mesh status shows it, when its root and every VM run (each exactly once). */
async function running (i: number, pool: string): Promise<Seen | undefined> {
  const [st] = await cluster.call(i, 'status', { pool })
  if (st === undefined) return undefined
  const up = st.components.filter(c => c.state === 'running')
  const root = up.find(c => c.path === '')
  const vms = up.filter(c => c.type === 'XenDomain')
  if (root === undefined || vms.length !== ALL_VMS || new Set(vms.map(v => v.path)).size !== ALL_VMS) return undefined
  return { state: st.state, root: root.host, vms: new Map(vms.map(v => [v.path, v.host])) }
}

/** The host daemon i's mesh status shows the pool's root running on (undefined while it runs nowhere). */
async function rootOn (i: number, pool: string): Promise<string | undefined> {
  const [st] = await cluster.call(i, 'status', { pool })
  return st?.components.find(c => c.path === '' && c.state === 'running')?.host
}

/** Every component of the pool still up in any live daemon's own engine (status --local). */
async function leftovers (pool: string): Promise<string[]> {
  const out: string[] = []
  for (const d of cluster.live()) {
    for (const p of await cluster.call(d.index, 'status', { local: true })) {
      if (p.pool !== pool && !p.pool.startsWith(`${pool}--`)) continue
      for (const c of p.components) if (c.state !== 'terminated' && c.state !== 'failed') out.push(`${d.host}:${p.pool}/${c.path}`)
    }
  }
  return out
}

beforeAll(async () => {
  cluster = await Cluster.start({ hosts: HOSTS.map(host => ({ host, args: ARGS })) })
  file = join(cluster.base, 'root.sf')
  await writeFile(file, description)
  await until('every host alive with its capacity in every directory', 30_000, async () => {
    for (const d of cluster.live()) {
      const h = await cluster.call(d.index, 'hosts', {})
      if (h.hosts.filter(x => x.capacity !== undefined && (x.state === 'alive' || x.state === 'self')).length !== HOSTS.length) return undefined
    }
    return true
  })
}, 60_000)

afterAll(async () => { await cluster?.stop() })

describe('the root\'s host, coordinator too, dies', () => {
  it('the pool survives: root re-deployed on the next coordinator, VMs kept or re-placed, terminable from any peer', async () => {
    const peers = cluster.daemons.map(d => d.peerId)
    let n = 0
    while (hrwOrder(`root${n}`, peers)[0] !== peers[0]) n++
    const pool = `root${n}`
    const dep = await cluster.cli(0, ['deploy', file, '--name', pool, '--wait', '--json'])
    expect(dep.stderr).toBe('')
    expect(dep.code).toBe(0)
    const before = await until('the pool running', 20_000, async () => await running(0, pool))
    expect(before.root).toBe('entry')
    // Let the root's pings begin, so the VMs' parts know their parent before it goes.
    await new Promise(resolve => setTimeout(resolve, 3000))

    const killedAt = cluster.kill(0)
    await cluster.exited(0)
    // The next coordinator: the first live participant (entry, and the hosts of the VMs) in HRW order.
    const participants = [...new Set(['entry', ...before.vms.values()])].map(h => cluster.daemons.find(d => d.host === h)!.peerId)
    const next = cluster.daemon(peers.indexOf(hrwOrder(pool, participants).filter(p => p !== peers[0])[0]!))
    const others = cluster.live().filter(d => d.index !== next.index).map(d => d.index)
    // When each of two other peers' status first shows the new root (a status never waits on the dead owner, and
    // asks the root's new owner as soon as the record names it).
    const rootSeen = Promise.all(others.slice(0, 2).map(async i => await until(`${cluster.daemon(i).host}'s status: the root running on ${next.host}`, 40_000, async () => await rootOn(i, pool) === next.host ? Date.now() : undefined)))
    const seen = await Promise.all(others.slice(0, 2).map(async i => await until(`${cluster.daemon(i).host}'s status: the root on ${next.host}, every VM on a live host`, 40_000, async () => {
      const s = await running(i, pool)
      return s !== undefined && s.root === next.host && [...s.vms.values()].every(h => h !== 'entry') ? s : undefined
    })))
    const tookMs = Date.now() - killedAt
    const deadAt = Math.min(...cluster.live().map(d => d.events.find(e => e.peer === peers[0] && e.event === 'dead' && e.at >= killedAt)?.at ?? Infinity))
    // When the new root's host committed it, by its own log (a status poll in flight towards the dead owner when the
    // record moved waits out its request timeout: the poll's figure is an upper bound).
    const line = next.stderr().split('\n').find(l => l.includes('"msg":"part re-placed"') && l.includes(`"pool":"${pool}"`) && l.includes('"path":""'))
    const backAt = line !== undefined ? (JSON.parse(line) as { time: number }).time : Infinity
    const rootSeenAt = await rootSeen
    const statusLagMs = Math.max(...rootSeenAt) - backAt
    console.log(`before: ${[...before.vms].map(([p, h]) => `${p}@${h}`).join(', ')}`)
    console.log(`root running again on ${next.host} ${backAt - killedAt} ms after SIGKILL (declared dead after ${deadAt - killedAt} ms); status from ${others.slice(0, 2).map(i => cluster.daemon(i).host).join(' and ')} showed it after ${tookMs} ms; VMs: ${[...seen[0]!.vms].map(([p, h]) => `${p}@${h}`).join(', ')}`)
    console.log(`new root in the status of ${others.slice(0, 2).map(i => cluster.daemon(i).host).join(' and ')} ${rootSeenAt.map(t => t - backAt).join(' and ')} ms after its re-placement (status polled every 100 ms)`)
    // Issue 6's bound for a re-placement: within the failure-detection time plus 5 s.
    expect(backAt - deadAt).toBeLessThan(5000)
    // Issue 5: status from any peer shows the new root within 1.5 s of its re-placement.
    expect(statusLagMs).toBeLessThan(1500)
    for (const s of seen) expect(s.state).toBe('running')
    // The VMs that lived elsewhere did not move: they followed their new parent (their hosts say so).
    for (const [path, host] of before.vms) {
      if (host === 'entry') continue
      expect(seen[0]!.vms.get(path)).toBe(host)
      await until(`${host} to follow the new root for ${path}`, 20_000, async () => cluster.daemons.find(d => d.host === host)!.stderr().includes('re-parented') ? true : undefined)
    }
    // Several liveness periods later, the pool still runs whole: the new root pings its children, nobody was orphaned.
    await new Promise(resolve => setTimeout(resolve, 7000))
    const later = await running(others[0]!, pool)
    expect(later?.root).toBe(next.host)
    expect([...(later?.vms.entries() ?? [])].sort()).toEqual([...seen[0]!.vms.entries()].sort())
    const ls = (await cluster.call(others[1]!, 'ls', {})).find(x => x.pool === pool)
    expect(ls?.state).toBe('running')
    expect(ls?.hosts).not.toContain('entry')

    // The old root's host comes back: it recovers the root (and its VMs) from its state dir, and stops them before
    // answering, the record having moved them (fencing by epoch). The root runs once, on its new host.
    await cluster.restart(0)
    expect((await leftovers(pool)).filter(x => x.startsWith('entry:'))).toEqual([])
    expect(cluster.daemon(0).stderr()).toContain('fenced: recovered part stopped')
    expect((await running(0, pool))?.root).toBe(next.host)

    // Terminated from a peer that neither took the deploy nor holds the root.
    const termAt = Date.now()
    const term = await cluster.cli(others[0]!, ['terminate', pool])
    console.log(`terminated from ${cluster.daemon(others[0]!).host} in ${Date.now() - termAt} ms`)
    expect(term.stderr).toBe('')
    expect(term.code).toBe(0)
    expect(await leftovers(pool)).toEqual([])
  }, 150_000)
})
