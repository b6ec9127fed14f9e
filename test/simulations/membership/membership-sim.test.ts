import { describe, expect, it } from 'vitest'
import { memberName, SimCluster } from '../../../simulations/membership/cluster.ts'
import { suspicionTimeout } from '../../../node/mesh/membership/suspicion.ts'
import { DEFAULT_MEMBERSHIP_CONFIG } from '../../../node/mesh/membership/types.ts'

const cfg = DEFAULT_MEMBERSHIP_CONFIG

describe('membership core on the in-memory network', () => {
  it.each([5, 20, 50])('N=%i members joining through one bootstrap converge', (n) => {
    const c = new SimCluster({ n, seed: n })
    const t = c.runUntil(() => c.converged(), 30_000)
    expect(t).toBeDefined()
    expect(c.members[n - 1].members().map(m => m.id)).toEqual(c.ids.slice(0, n - 1))
  })

  it('a killed member is declared dead by all within the bound, with 10% loss', () => {
    const n = 20
    const c = new SimCluster({ n, seed: 42, loss: 0.1 })
    expect(c.runUntil(() => c.converged(), 30_000)).toBeDefined()
    c.runFor(10_000)
    const victim = memberName(7)
    c.kill(victim)
    // Bound: a probe round for the first probe, then the longest suspicion (no confirmations), then gossip.
    const min = suspicionTimeout(cfg.suspicionMult, n, cfg.probeIntervalMs)
    const bound = 2 * cfg.probeIntervalMs + cfg.suspicionMaxTimeoutMult * min + 2_000
    const t = c.runUntil(() => c.allSayDead(victim), bound, 10)
    expect(t).toBeDefined()
    expect(t).toBeLessThan(5_000) // confirmations shrink the timeout well below the bound
  })

  it('a member paused for less than the suspicion timeout is not declared dead by anyone', () => {
    const dead: string[] = []
    const c = new SimCluster({ n: 20, seed: 3, onEvent: (o, e) => { if (e.type === 'dead') dead.push(`${o}:${e.member.id}`) } })
    expect(c.runUntil(() => c.converged(), 30_000)).toBeDefined()
    const victim = memberName(4)
    c.network.pause(victim)
    c.runFor(1_500) // min suspicion at N=20 is 1.95 s, and the first suspicion only starts after a failed probe round
    c.network.resume(victim)
    c.runFor(20_000)
    expect(dead).toEqual([])
    expect(c.converged()).toBe(true)
  })

  it('a member paused for longer is declared dead, then refutes and is alive again after resume', () => {
    const c = new SimCluster({ n: 10, seed: 5 })
    expect(c.runUntil(() => c.converged(), 30_000)).toBeDefined()
    const victim = memberName(2)
    c.network.pause(victim)
    expect(c.runUntil(() => c.live([victim]).every(o => c.statusOf(o, victim) === 'dead'), 30_000)).toBeDefined()
    c.network.resume(victim)
    expect(c.runUntil(() => c.converged(), 30_000)).toBeDefined()
    expect(c.member(victim).incarnation).toBeGreaterThan(0)
  })

  it('a partition longer than the failure timeout heals and the halves re-merge', () => {
    const c = new SimCluster({ n: 12, seed: 11 })
    expect(c.runUntil(() => c.converged(), 30_000)).toBeDefined()
    const a = c.ids.slice(0, 6); const b = c.ids.slice(6)
    c.network.partition([a, b])
    expect(c.runUntil(() => a.every(o => b.every(s => c.statusOf(o, s) === 'dead')) &&
      b.every(o => a.every(s => c.statusOf(o, s) === 'dead')), 60_000)).toBeDefined()
    expect(c.converged(a) && c.converged(b)).toBe(true)
    c.network.heal()
    const t = c.runUntil(() => c.converged(), 120_000)
    expect(t).toBeDefined()
  })

  it('10% loss and jitter give no false positive over 10 simulated minutes (N=30)', () => {
    const dead: string[] = []
    const c = new SimCluster({ n: 30, seed: 99, loss: 0.1, jitterMs: 20, duplicate: 0.02, onEvent: (o, e) => { if (e.type === 'dead') dead.push(`${o}:${e.member.id}`) } })
    expect(c.runUntil(() => c.converged(), 30_000)).toBeDefined()
    c.runFor(10 * 60_000)
    expect(dead).toEqual([])
    expect(c.converged()).toBe(true)
  })

  it('is deterministic: the same seed gives the same history', () => {
    const run = (seed: number): string => {
      const log: string[] = []
      const c = new SimCluster({ n: 10, seed, loss: 0.2, onEvent: (o, e, now) => { log.push(`${now}:${o}:${e.type}`) } })
      c.runFor(5_000)
      c.kill(memberName(3))
      c.runFor(10_000)
      return log.join('\n')
    }
    expect(run(7)).toBe(run(7))
    expect(run(7)).not.toBe(run(8))
  })

  it('a graceful leave is known by all at once, and marked as a leave', () => {
    const c = new SimCluster({ n: 8, seed: 21 })
    expect(c.runUntil(() => c.converged(), 30_000)).toBeDefined()
    const leaver = memberName(5)
    c.member(leaver).stop({ leave: true })
    c.network.kill(leaver)
    const t = c.runUntil(() => c.live([leaver]).every(o => c.statusOf(o, leaver) === 'dead'), 5_000, 10)
    expect(t).toBeLessThan(1_000)
    expect(c.member(memberName(0)).member(leaver)?.left).toBe(true)
  })

  it('the bootstrap member dies: the others keep each other, and a newcomer can join through any of them', () => {
    const c = new SimCluster({ n: 6, seed: 8 })
    expect(c.runUntil(() => c.converged(), 30_000)).toBeDefined()
    c.kill(memberName(0))
    expect(c.runUntil(() => c.allSayDead(memberName(0)), 30_000)).toBeDefined()
    c.runFor(60_000)
    expect(c.converged()).toBe(true)
  })

  it('Lifeguard: a member cut off from everyone raises its own health score and so slows its accusations', () => {
    const c = new SimCluster({ n: 10, seed: 13 })
    expect(c.runUntil(() => c.converged(), 30_000)).toBeDefined()
    const lonely = memberName(9)
    expect(c.member(lonely).health).toBe(0)
    c.network.partition([c.ids.filter(id => id !== lonely)])
    c.runFor(5_000)
    expect(c.member(lonely).health).toBeGreaterThan(2)
    // while the healthy side keeps a clean record of its own
    expect(c.live([lonely]).every(id => c.member(id).health <= 1)).toBe(true)
  })

  it('incarnations: a suspected member refutes with a higher incarnation that everyone adopts', () => {
    const c = new SimCluster({ n: 10, seed: 17 })
    expect(c.runUntil(() => c.converged(), 30_000)).toBeDefined()
    const target = memberName(3)
    c.network.pause(target)
    expect(c.runUntil(() => c.live([target]).some(o => c.statusOf(o, target) === 'suspect'), 10_000, 10)).toBeDefined()
    c.network.resume(target)
    expect(c.runUntil(() => c.converged(), 10_000)).toBeDefined()
    const inc = c.member(target).incarnation
    expect(inc).toBeGreaterThan(0)
    expect(c.runUntil(() => c.live([target]).every(o => c.member(o).member(target)?.incarnation === inc), 10_000)).toBeDefined()
  })

  it('probeNow (a transport hint such as a dropped connection) brings detection down to about the minimum suspicion', () => {
    const n = 20
    const c = new SimCluster({ n, seed: 31 })
    expect(c.runUntil(() => c.converged(), 30_000)).toBeDefined()
    c.runFor(5_000)
    const victim = memberName(11)
    c.kill(victim)
    for (const id of c.live()) c.member(id).probeNow(victim)
    const t = c.runUntil(() => c.allSayDead(victim), 20_000, 10)
    const min = suspicionTimeout(cfg.suspicionMult, n, cfg.probeIntervalMs)
    expect(t).toBeGreaterThanOrEqual(min)
    expect(t).toBeLessThan(min + cfg.probeIntervalMs + 500)
  })
})
