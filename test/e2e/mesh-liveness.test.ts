import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { stat } from 'node:fs/promises'
import { Cluster } from '../../simulations/cluster/cluster.ts'
import type { HostsResult } from '../../node/api/messages.ts'
import { sdpeer } from './harness.ts'

// Liveness between real daemons (separate processes, loopback, pool key): a daemon killed with SIGKILL is marked
// dead by every other peer, as `sdpeer hosts --json` shows; one stopped (SIGSTOP) for less than the suspicion
// timeout (3 × max(1, log10 N) × 500 ms = 1.5 s at N = 3, default settings) is never marked dead by anyone.

const HOSTS = ['h0.cern.ch', 'h1.cern.ch', 'h2.cern.ch']
let cluster: Cluster | undefined

async function hosts (i: number): Promise<HostsResult> {
  const r = await sdpeer(c().daemon(i).api, ['hosts', '--json'])
  if (r.code !== 0) throw new Error(`sdpeer hosts on ${HOSTS[i]}: ${r.stderr}`)
  return JSON.parse(r.stdout) as HostsResult
}

const stateOf = (h: HostsResult, peerId: string): string | undefined => h.hosts.find(x => x.peerId === peerId)?.state

async function until (what: string, pred: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const t0 = Date.now()
  while (!(await pred())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return Date.now() - t0
}

async function allAlive (among: number[]): Promise<boolean> {
  for (const i of among) {
    const h = await hosts(i)
    for (const j of among) if (j !== i && stateOf(h, c().daemon(j).peerId) !== 'alive') return false
  }
  return true
}

beforeAll(async () => {
  cluster = await Cluster.start({ hosts: HOSTS })
  await until('every peer alive everywhere', async () => await allAlive([0, 1, 2]), 30_000)
}, 60_000)

afterAll(async () => { await cluster?.stop() })

const c = (): Cluster => cluster!

describe('liveness between real daemons', () => {
  it('`sdpeer hosts` shows every host with its state, capacity and driver; the table marks this daemon', async () => {
    const h = await hosts(1)
    expect(h.self).toMatchObject({ host: 'h1.cern.ch', peerId: c().daemon(1).peerId, insecure: false })
    expect(h.self!.poolKey).toMatch(/^[0-9a-f]{16}$/)
    expect(h.hosts.map(x => `${x.hostNames[0]} ${x.state} ${x.driver} ${x.capacity?.memoryMb}`)).toEqual([
      'h0.cern.ch alive sim 65536', 'h1.cern.ch self sim 65536', 'h2.cern.ch alive sim 65536'
    ])
    expect(h.hosts.every(x => x.addrs[0]?.includes('/p2p/') && x.misbehaviour === 0)).toBe(true)
    const text = await sdpeer(c().daemon(1).api, ['hosts'])
    expect(text.code).toBe(0)
    expect(text.stdout.split('\n')[0]).toMatch(/^HOST\s+STATE\s+PEER\s+CAPACITY\s+LOAD/)
    expect(text.stdout).toMatch(/h1\.cern\.ch\s+self\s/)
    expect(text.stdout).not.toContain('INSECURE')
  })

  it('SIGSTOP for less than the suspicion timeout: nobody marks the paused daemon dead', async () => {
    const paused = c().daemon(2).peerId
    const seen = new Set<string>()
    c().pause(2)
    const stopAt = Date.now()
    // While paused, and for a while after: the others may suspect it, never declare it dead.
    while (Date.now() - stopAt < 1000) {
      for (const i of [0, 1]) seen.add(stateOf(await hosts(i), paused) ?? 'missing')
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    c().resume(2)
    const resumedAt = Date.now()
    while (Date.now() - resumedAt < 3000) {
      for (const i of [0, 1]) seen.add(stateOf(await hosts(i), paused) ?? 'missing')
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    console.log(`SIGSTOP 1000 ms at N=3: states seen by the others: ${[...seen].join(', ')}`)
    expect(seen.has('dead')).toBe(false)
    expect(seen.has('missing')).toBe(false)
    await until('the paused daemon alive again everywhere', async () => await allAlive([0, 1, 2]), 10_000)
  }, 30_000)

  it('SIGKILL: every other peer marks the daemon dead', async () => {
    const victim = c().daemon(2).peerId
    const killedAt = c().kill(2, 'SIGKILL')
    await c().exited(2)
    const ms = await until('all others say dead', async () => {
      for (const i of [0, 1]) if (stateOf(await hosts(i), victim) !== 'dead') return false
      return true
    }, 15_000)
    console.log(`SIGKILL at N=3: every other peer said dead after ${Date.now() - killedAt} ms (polled: ${ms} ms)`)
    // The survivors still see each other alive.
    expect(await allAlive([0, 1])).toBe(true)
  }, 30_000)

  it('a peer restarted on its state dir keeps its peer id and is alive again everywhere', async () => {
    const before = c().daemon(2).peerId
    await c().restart(2)
    expect(c().daemon(2).peerId).toBe(before)
    await until('the restarted daemon alive everywhere', async () => await allAlive([0, 1, 2]), 20_000)
  }, 40_000)

  it('stop() leaves no process, socket or file behind', async () => {
    const pids = c().daemons.map(d => d.pid!)
    const base = c().base
    await c().stop()
    cluster = undefined
    for (const pid of pids) expect(() => process.kill(pid, 0)).toThrow(/ESRCH/)
    await expect(stat(base)).rejects.toMatchObject({ code: 'ENOENT' })
  })
})
