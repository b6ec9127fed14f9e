import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Cluster } from '../../simulations/cluster/cluster.ts'
import { until as waitUntil } from './cluster-wait.ts'
import { hrwOrder, hrwScore } from '../../node/scheduler/coordinator.ts'

// Issue 6 in the real daemons: five scheduled VMs on one host; SIGKILL that host and the pool's coordinator (the
// first live participant in HRW order) prepares and commits each VM on a live host of the Scheduler's list, at
// epoch 2, and rewrites the pool record everywhere. Then the coordinator itself dies: the next participant takes
// over and re-places its VMs. The dead VM host comes back: it stops its recovered copies before answering (fencing),
// so no VM runs twice. The pool stays terminable from any peer.

const SPARES = ['spare1', 'spare2', 'spare3']
const ARGS = ['--allow-path', 'ro:/boot']
const VMS = ['vm1', 'vm2', 'vm3', 'vm4', 'vm5']
let cluster: Cluster
let file: string

const description = `#include "org/smartfrog/components.sf"
#include "ch/cern/openlab/smartdomains/components.sf"
VM extends XenDomain { kernel "/boot/vmlinuz-2.6-xen"; memory 512; vcpus 1; }
sfConfig extends Compound {
    sched extends Scheduler { hosts [|"vmhost", ${SPARES.map(s => `"${s}"`).join(', ')}|]; }
    vms extends Schedulee {
        scheduler LAZY ATTRIB sched;
${VMS.map((v, i) => `        ${v} extends VM { hostname "${v}"; ip "192.0.2.${21 + i}"; }`).join('\n')}
    }
}
`

const LOGS = /re-plac|fenc|refused|not re-placed|interrupted/
const until = async <T> (what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> => await waitUntil(cluster, what, timeoutMs, probe, LOGS)

/** The pool's VMs as daemon i's mesh status shows them: path -> host, when all five run. */
async function placement (i: number, pool: string): Promise<Map<string, string> | undefined> {
  const [st] = await cluster.call(i, 'status', { pool })
  const vms = (st?.components ?? []).filter(c => c.type === 'XenDomain' && c.state === 'running')
  return vms.length === VMS.length ? new Map(vms.map(v => [v.path, v.host])) : undefined
}

/** Every VM component of every live daemon's own engine (status --local): host -> paths. */
async function localVms (): Promise<Array<{ host: string, path: string }>> {
  const out: Array<{ host: string, path: string }> = []
  for (const d of cluster.live()) {
    for (const p of await cluster.call(d.index, 'status', { local: true })) {
      for (const c of p.components) if (c.type === 'XenDomain' && c.state !== 'terminated') out.push({ host: d.host, path: `${p.pool}/${c.path}` })
    }
  }
  return out
}

async function meshWhole (n: number): Promise<void> {
  await until('every host alive with its capacity in every directory', 30_000, async () => {
    for (const d of cluster.live()) {
      const h = await cluster.call(d.index, 'hosts', {})
      if (h.hosts.filter(x => x.capacity !== undefined && (x.state === 'alive' || x.state === 'self')).length !== n) return undefined
    }
    return true
  })
}

beforeAll(async () => {
  cluster = await Cluster.start({ hosts: [{ host: 'entry', args: ARGS }, { host: 'vmhost', args: ARGS }] })
  file = join(cluster.base, 'replace.sf')
  await writeFile(file, description)
  await meshWhole(2)
}, 60_000)

afterAll(async () => { await cluster?.stop() })

describe('re-placement, coordinator takeover and fencing between real daemons', () => {
  it('moves the VMs of a dead host, survives its coordinator, fences the returning host, terminates from any peer', async () => {
    // A pool name that ranks the entry peer (which holds the pool's root) near the bottom of the HRW order, so the
    // coordinator killed below is a host holding VMs, not the root's (that case: mesh-replace-root.test.ts).
    let n = 0
    while (hrwScore(`rp${n}`, cluster.daemon(0).peerId) > (1n << 64n) / 10_000n) n++
    const pool = `rp${n}`
    // The spares are not there yet: the scheduler can only use vmhost.
    const dep = await cluster.cli(0, ['deploy', file, '--name', pool, '--wait', '--json'])
    expect(dep.stderr).toBe('')
    expect(dep.code).toBe(0)
    const first = await placement(0, pool)
    expect([...(first?.values() ?? [])]).toEqual(VMS.map(() => 'vmhost'))
    await Promise.all(SPARES.map(async host => await cluster.add({ host, args: ARGS })))
    await meshWhole(5)
    const peers = cluster.daemons.map(d => d.peerId)
    const hostOf = new Map(cluster.daemons.map(d => [d.host, d.index]))

    const killedAt = cluster.kill(1)
    await cluster.exited(1)
    const moved = await until('five VMs running on the spares', 30_000, async () => {
      const p = await placement(0, pool)
      return p !== undefined && [...p.values()].every(h => SPARES.includes(h)) ? p : undefined
    })
    const tookMs = Date.now() - killedAt
    const deadAt = Math.min(...cluster.live().map(d => d.events.find(e => e.peer === peers[1] && e.event === 'dead' && e.at >= killedAt)?.at ?? Infinity))
    console.log(`re-placement: 5 VMs running again ${tookMs} ms after SIGKILL (first declared dead after ${deadAt - killedAt} ms): ${[...moved.values()].join(', ')}`)
    // Issue 6: running again within the failure-detection time plus 5 s.
    expect(tookMs - (deadAt - killedAt)).toBeLessThan(5000)
    // The record moved everywhere: ls from every peer names the new hosts.
    const want = [...new Set(['entry', ...moved.values()])].sort()
    for (const d of cluster.live()) {
      await until(`${d.host}'s ls to name ${want.join(', ')}`, 10_000, async () => {
        const e = (await cluster.call(d.index, 'ls', {})).find(x => x.pool === pool)
        return JSON.stringify([...new Set(e?.hosts)].sort()) === JSON.stringify(want) ? true : undefined
      })
    }

    // The coordinator now: the first live participant (entry, the dead vmhost, the spares that took VMs) by HRW.
    const participants = [peers[0]!, peers[1]!, ...[...new Set(moved.values())].map(h => peers[hostOf.get(h)!]!)]
    const coordinator = hrwOrder(pool, participants).find(p => p !== peers[1])!
    const ci = peers.indexOf(coordinator)
    console.log(`coordinator after the first re-placement: ${cluster.daemon(ci).host}`)
    const killed2 = cluster.kill(ci)
    await cluster.exited(ci)
    const gone = new Set(['vmhost', cluster.daemon(ci).host])
    const again = await until('five VMs running on live hosts after the coordinator died', 30_000, async () => {
      const any = cluster.live()[0]!.index
      const p = await placement(any, pool)
      return p !== undefined && [...p.values()].every(h => !gone.has(h)) ? p : undefined
    })
    const took2 = Date.now() - killed2
    const deadAt2 = Math.min(...cluster.live().map(d => d.events.find(e => e.peer === peers[ci] && e.event === 'dead' && e.at >= killed2)?.at ?? Infinity))
    console.log(`takeover: VMs of the dead coordinator ${cluster.daemon(ci).host} running again ${took2} ms after SIGKILL (declared dead after ${deadAt2 - killed2} ms): ${[...again.values()].join(', ')}`)
    expect(took2 - (deadAt2 - killed2)).toBeLessThan(5000)

    // The VM host comes back: it recovers its five copies from its state dir, and stops them before answering.
    const restartAt = Date.now()
    await cluster.restart(1)
    console.log(`the dead VM host restarted and fenced in ${Date.now() - restartAt} ms`)
    const local = await localVms()
    expect(local.filter(v => v.host === 'vmhost')).toEqual([])
    const paths = local.map(v => v.path)
    expect(paths.length).toBe(VMS.length)
    expect(new Set(paths).size).toBe(VMS.length)
    expect(cluster.daemon(1).stderr()).toContain('fenced: recovered part stopped')

    // Terminated from a peer that took no part in the deploy.
    const from = cluster.live().find(d => d.index !== 0 && d.index !== 1)!.index
    const termAt = Date.now()
    const term = await cluster.cli(from, ['terminate', pool])
    console.log(`terminated from ${cluster.daemon(from).host} in ${Date.now() - termAt} ms`)
    expect(term.stderr).toBe('')
    expect(term.code).toBe(0)
    expect(await localVms()).toEqual([])
    // The dead coordinator comes back to a terminated pool: its copies go too.
    await cluster.restart(ci)
    expect(await localVms()).toEqual([])
  }, 120_000)
})
