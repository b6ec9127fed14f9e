import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { Cluster } from '../../simulations/cluster/cluster.ts'
import { until as waitUntil } from './cluster-wait.ts'

// Issues 5 and 6 in real daemons: a VM pinned by its own sfProcessHost on a host that dies is not re-placed; the
// root's part, on another host, records it failed with the host named ("host NAME lost (peer …)"), and the
// component holding it decides as Compound does on one host: without sfSyncTerminate the pool runs on (and still
// terminates from any peer), with it the pool ends with that record (its other remote child, vmC on hostC, with it).
// `sdpeer terminate POOL:vmC` is recorded the same way, with its own reason. Deployed from hostC, the root put on
// hostA by `--at` (first case) or by its own sfProcessHost (second); sfLivenessDelay 1 so pings notice in seconds.
// sfLivenessFactor 3: the mesh declares hostB dead (about 2 s) before three pings in a row can miss (each waits up to
// a second), so the record is always the dead host's ("host hostB lost"), not a slow child's ("not answering").

const ARGS = ['--allow-path', 'ro:/boot']
const [A, B, C] = [0, 1, 2]
const HOSTS = ['hostA', 'hostB', 'hostC']
let cluster: Cluster

function description (sync: boolean, n: number, rootHost?: string): string {
  return `#include "org/smartfrog/components.sf"
#include "ch/cern/openlab/smartdomains/components.sf"
VM extends XenDomain { kernel "/boot/vmlinuz-2.6-xen"; memory 256; vcpus 1; }
sfConfig extends Compound {
    ${rootHost !== undefined ? `sfProcessHost "${rootHost}";` : ''}
    sfLivenessDelay 1;
    sfLivenessFactor 3;
    sfSyncTerminate ${String(sync)};
    vmA extends VM { sfProcessHost "hostA"; hostname "pin${n}a"; ip "192.0.2.${60 + 3 * n}"; }
    vmB extends VM { sfProcessHost "hostB"; hostname "pin${n}b"; ip "192.0.2.${61 + 3 * n}"; }
    vmC extends VM { sfProcessHost "hostC"; hostname "pin${n}c"; ip "192.0.2.${62 + 3 * n}"; }
}
`
}

const LOGS = /remote child|liveness|not re-placed|lost|fenc|terminat|failed/
const until = async <T> (what: string, timeoutMs: number, probe: () => Promise<T | undefined>): Promise<T> => await waitUntil(cluster, what, timeoutMs, probe, LOGS)

interface PoolJson { pool: string, state: string, components: Array<{ path: string, type: string, host: string, state: string, reason?: string }> }

/** `sdpeer status POOL --json` on daemon i. */
async function status (i: number, pool: string): Promise<PoolJson> {
  const r = await cluster.cli(i, ['status', pool, '--json'])
  if (r.code !== 0) throw new Error(`status ${pool} on ${HOSTS[i]}: exit ${r.code}: ${r.stderr}`)
  return JSON.parse(r.stdout) as PoolJson
}

const line = (st: PoolJson, path: string): string => {
  const c = st.components.find(x => x.path === path)
  return c === undefined ? 'absent' : `${c.state}@${c.host}${c.reason !== undefined ? ` ${c.reason}` : ''}`
}

/** Every component of `pool` still up in a live daemon's own engine (`sdpeer status --local --json`). */
async function leftovers (pool: string): Promise<string[]> {
  const out: string[] = []
  for (const d of cluster.live()) {
    const r = await cluster.cli(d.index, ['status', '--local', '--json'])
    if (r.code !== 0) throw new Error(`status --local on ${d.host}: ${r.stderr}`)
    for (const p of JSON.parse(r.stdout) as PoolJson[]) {
      if (p.pool !== pool && !p.pool.startsWith(`${pool}--`)) continue
      for (const c of p.components) if (c.state !== 'terminated' && c.state !== 'failed') out.push(`${d.host}:${p.pool}/${c.path}=${c.state}`)
    }
  }
  return out
}

/** The sim driver's running domains on every live host (what the hypervisor still runs), as host:name. */
async function domains (): Promise<string[]> {
  const out: string[] = []
  for (const d of cluster.live()) {
    const text = await readFile(join(d.stateDir, 'sim-domains.json'), 'utf8').catch(() => '{"domains":[]}')
    for (const x of (JSON.parse(text) as { domains: Array<{ name: string }> }).domains) out.push(`${d.host}:${x.name}`)
  }
  return out.sort()
}

/** When daemon i logged `msg` for `pool` (JSON logs' wall time), or undefined. */
function loggedAt (i: number, msg: string, pool: string, extra = ''): number | undefined {
  const l = cluster.daemon(i).stderr().split('\n').find(x => x.includes(`"msg":"${msg}"`) && x.includes(`"pool":"${pool}"`) && x.includes(extra))
  return l !== undefined ? (JSON.parse(l) as { time: number }).time : undefined
}

async function meshWhole (): Promise<void> {
  await until('every host alive with its capacity in every directory', 30_000, async () => {
    for (const d of cluster.live()) {
      const h = await cluster.call(d.index, 'hosts', {})
      if (h.hosts.filter(x => x.capacity !== undefined && (x.state === 'alive' || x.state === 'self')).length !== HOSTS.length) return undefined
    }
    return true
  })
}

/** Deploys from C and waits until the root and the three VMs run, each on its host. */
async function deploy (pool: string, text: string, extra: string[]): Promise<void> {
  const file = join(cluster.base, `${pool}.sf`)
  await writeFile(file, text)
  const dep = await cluster.cli(C, ['deploy', file, '--name', pool, '--wait', '--json', ...extra])
  expect(dep.stderr).toBe('')
  expect(dep.code).toBe(0)
  await until('the root and every VM running on its host', 15_000, async () => {
    const s = await status(C, pool)
    return ['', 'vmA', 'vmB', 'vmC'].every((p, i) => line(s, p) === `running@${HOSTS[Math.max(0, i - 1)]}`) ? true : undefined
  })
  // One sim domain on each host: what the checks that nothing is left look at.
  expect((await domains()).map(d => d.split(':')[0])).toEqual(HOSTS)
}

/** SIGKILLs B, once the root's pings of vmB are under way; returns the SIGKILL time and B's peer id. */
async function killB (): Promise<{ killedAt: number, peerB: string }> {
  await new Promise(resolve => setTimeout(resolve, 1500))
  const peerB = cluster.daemon(B).peerId
  const killedAt = cluster.kill(B)
  await cluster.exited(B)
  return { killedAt, peerB }
}

/** How hostA's part came to record vmB: the coordinator marked it failed, or its pings missed sfLivenessFactor times. */
const via = (pool: string): string => loggedAt(A, 'remote child failed liveness', pool, '"path":"vmB"') !== undefined ? 'missed pings' : 'the coordinator\'s failed mark (no ping counted)'

/** When the mesh first declared B dead after `since` (any live daemon's log), as ms after `since`. */
function deadAfter (peerB: string, since: number): number {
  return Math.min(...cluster.live().map(d => d.events.find(e => e.peer === peerB && e.event === 'dead' && e.at >= since)?.at ?? Infinity)) - since
}

beforeAll(async () => {
  cluster = await Cluster.start({ hosts: HOSTS.map(host => ({ host, args: ARGS })) })
  await meshWhole()
}, 60_000)

afterAll(async () => { await cluster?.stop() })

describe('a VM pinned on a host that dies, between real daemons', () => {
  it('sfSyncTerminate false: a VM terminated, then one whose host died, each recorded; the pool runs on; terminate from C ends it', async () => {
    const pool = 'pinned1'
    await deploy(pool, description(false, 1), ['--at', 'hostA'])
    // `sdpeer terminate POOL:vmC` from hostA: hostC's part ends, its record goes to the root's part, which runs on.
    const one = await cluster.cli(A, ['terminate', `${pool}:vmC`, '--reason', 'vmC not needed'])
    expect([one.code, one.stderr]).toEqual([0, ''])
    await until('hostA to record vmC ended', 10_000, async () => loggedAt(A, 'remote child terminated', pool, '"path":"vmC"'))
    const afterC = await status(C, pool)
    expect([afterC.state, line(afterC, ''), line(afterC, 'vmA'), line(afterC, 'vmB'), line(afterC, 'vmC')])
      .toEqual(['running', 'running@hostA', 'running@hostA', 'running@hostB', 'terminated@hostC vmC not needed'])

    const { killedAt, peerB } = await killB()
    const lost = `host hostB lost (peer ${peerB})`
    const recordedAt = await until('hostA to record vmB ended', 20_000, async () => loggedAt(A, 'remote child terminated', pool, '"path":"vmB"'))
    // Each figure is when that status call returned (it started after A's record): an upper bound.
    const seen: Record<number, number> = {}
    for (const i of [C, A]) {
      const st = await status(i, pool)
      seen[i] = Date.now()
      expect(st.state, HOSTS[i]).toBe('running')
      expect(line(st, ''), HOSTS[i]).toBe('running@hostA')
      expect(line(st, 'vmA'), HOSTS[i]).toBe('running@hostA')
      expect(line(st, 'vmB'), HOSTS[i]).toBe(`failed@hostB ${lost}`)
      expect(line(st, 'vmC'), HOSTS[i]).toBe('terminated@hostC vmC not needed')
      expect(st.components.filter(c => c.path === 'vmB'), HOSTS[i]).toHaveLength(1)
    }
    console.log(`sfSyncTerminate false: vmB recorded failed on hostA ${recordedAt - killedAt} ms after SIGKILL, by ${via(pool)} (hostB first declared dead after ${deadAfter(peerB, killedAt)} ms); the failed line in C's status ${seen[C]! - killedAt} ms, in A's ${seen[A]! - killedAt} ms after SIGKILL`)
    // Several liveness periods on, still so: the root's part (vmA with it) runs on hostA, the registry says running.
    await new Promise(resolve => setTimeout(resolve, 2500))
    expect(await leftovers(pool)).toEqual(['hostA:pinned1/=running', 'hostA:pinned1/vmA=running'])
    expect((await cluster.call(C, 'ls', {})).find(x => x.pool === pool)?.state).toBe('running')

    // `sdpeer terminate` from C: every live part ends; vmB, lost with its host, is named, not waited for.
    const termAt = Date.now()
    const term = await cluster.cli(C, ['terminate', pool])
    console.log(`terminate from hostC: ${Date.now() - termAt} ms, exit ${term.code}: ${term.stdout.split('\n')[0]}`)
    expect(term.stderr).toBe('')
    expect(term.stdout.split('\n')[0]).toMatch(/^pool pinned1: terminated .*vmB on hostB/)
    expect(term.code).toBe(0)
    expect(await leftovers(pool)).toEqual([])
    expect(await domains()).toEqual([])
    for (const d of cluster.live()) expect((await cluster.call(d.index, 'ls', {})).find(x => x.pool === pool)?.state, d.host).toBe('terminated')

    // hostB comes back on its state dir: its copy of vmB, of a pool that ended meanwhile, does not run again.
    await cluster.restart(B)
    expect(await leftovers(pool)).toEqual([])
    expect(await domains()).toEqual([])
  }, 90_000)

  it('sfSyncTerminate true: the pool ends with the record naming hostB; vmA and vmC terminated, nothing left running', async () => {
    const pool = 'pinned2'
    if (cluster.daemon(B).exited) await cluster.restart(B)
    await meshWhole()
    await deploy(pool, description(true, 2, 'hostA'), [])
    const { killedAt, peerB } = await killB()
    const lost = `host hostB lost (peer ${peerB})`
    const ended = await until('the pool terminated in C\'s registry', 20_000, async () => {
      const e = (await cluster.call(C, 'ls', {})).find(x => x.pool === pool)
      return e?.state === 'terminated' ? e : undefined
    })
    const recordedAt = loggedAt(A, 'remote child terminated', pool, '"path":"vmB"') ?? NaN
    console.log(`sfSyncTerminate true: vmB recorded on hostA ${recordedAt - killedAt} ms after SIGKILL, by ${via(pool)} (declared dead after ${deadAfter(peerB, killedAt)} ms), pool terminated in C's ls after ${Date.now() - killedAt} ms`)
    expect(ended.reason).toBe(`abnormal: ${lost} (at vmB)`)
    // The ended parts' engines forget them; their final states are kept by the mesh's lifecycle and listed.
    for (const i of [A, C]) {
      const st = await status(i, pool)
      expect(st.state, HOSTS[i]).toBe('terminated')
      expect(line(st, 'vmB'), HOSTS[i]).toBe(`failed@hostB ${lost}`)
      for (const path of ['', 'vmA']) expect(['terminated', 'failed'], `${HOSTS[i]} ${path}`).toContain(st.components.find(c => c.path === path)?.state)
      expect(st.components.filter(c => c.state === 'running'), HOSTS[i]).toEqual([])
    }
    expect(await leftovers(pool)).toEqual([])
    expect(await domains()).toEqual([])
    // hostB back: its copy of vmB stops before it answers (a restarted host must not revive an ended pool's VM).
    await cluster.restart(B)
    expect(await leftovers(pool)).toEqual([])
    expect(await domains()).toEqual([])
  }, 60_000)
})
