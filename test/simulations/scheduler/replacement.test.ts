import { describe, expect, it } from 'vitest'
import { makeWorkload } from '../../../simulations/scheduler/workload.ts'
import { runReplacement } from '../../../simulations/scheduler/scenarios.ts'
import { hrwOrder } from '../../../node/scheduler/coordinator.ts'

const DETECTION = 3000
const workload = () => makeWorkload({ seed: 21, hosts: 20, deployers: 4, poolsPerDeployer: 3, vmsPerPool: 12 })

describe('scheduler simulation: a host dies', () => {
  it('its scheduled VMs (5 or more) run again elsewhere within detection + 5 s', async () => {
    const { cluster, figures } = await runReplacement(workload(), { seed: 21, detectionMs: DETECTION })
    expect(figures.victimVms).toBeGreaterThanOrEqual(5)
    expect(figures.notReplaced).toEqual([])
    expect(figures.replaceMs).toBeLessThanOrEqual(DETECTION + 5000)
    for (const reps of cluster.replicas.values()) {
      for (const rec of [...reps.values()][0].vms()) expect(rec.host).not.toBe(figures.victim)
    }
    console.log(`re-placed ${figures.victimVms} VMs of ${figures.victim} in ${figures.replaceMs.toFixed(0)} ms (${figures.afterDetectionMs.toFixed(0)} ms after detection)`)
  })

  it('with the coordinator killed too, the next peer in HRW order takes over', async () => {
    const { cluster, figures } = await runReplacement(workload(), { seed: 21, detectionMs: DETECTION }, { killCoordinator: true })
    const killed = figures.killedCoordinator!
    expect(killed).toBeDefined()
    expect(figures.notReplaced).toEqual([])
    expect(figures.replaceMs).toBeLessThanOrEqual(DETECTION + 5000)
    // the pool whose coordinator died was re-placed by its successor in HRW order, and by no other peer
    const pool = figures.coordinatedPool!
    const rec = [...cluster.replicas.get(pool)!.values()][0]
    expect(rec.vms().some(v => v.epoch > 1)).toBe(true)
    const order = hrwOrder(pool, rec.participants())
    expect(order.indexOf(killed)).toBeLessThan(order.indexOf(figures.expectedSuccessor!))
    expect(figures.actors).toEqual([figures.expectedSuccessor])
    for (const v of rec.vms()) expect([figures.victim, killed]).not.toContain(v.host)
  })

  it('a dead host that comes back stops its copies first: never two copies on live hosts, one copy of each VM at the end', async () => {
    const { figures } = await runReplacement(workload(), { seed: 21, detectionMs: DETECTION }, { healAfterMs: 15_000 })
    expect(figures.notReplaced).toEqual([])
    expect(figures.fenced).toBe(figures.victimVms)
    expect(figures.duplicates).toEqual([])
    expect(figures.copiesNotOne).toEqual([])
  })

  it('control: without fencing the same return leaves duplicates (the checker can fail)', async () => {
    const { figures } = await runReplacement(workload(), { seed: 21, detectionMs: DETECTION, fencing: false }, { healAfterMs: 15_000 })
    expect(figures.duplicates.length).toBeGreaterThan(0)
    expect(figures.copiesNotOne.length).toBe(figures.victimVms)
  })

  it('a VM pinned by sfProcessHost on the dead host is reported failed with the reason, not moved', async () => {
    const w = workload()
    const { cluster, figures } = await runReplacement(w, { seed: 21, detectionMs: DETECTION }, {})
    void figures
    // pin one on a live host, kill that host, and watch the coordinator report it
    const pool = [...cluster.replicas.keys()][0]
    const target = [...cluster.mesh.hosts.values()].find(h => h.declaredLive && h.reachable)!.host
    cluster.pin(pool, { pool, vmId: 'pinned-db', memoryMiB: 512, vcpus: 1 }, target)
    cluster.mesh.fail(target, 'crash')
    await cluster.clock.run({ until: cluster.clock.now() + DETECTION + 5000 })
    const rec = [...cluster.replicas.get(pool)!.values()][0]
    const coordinator = cluster.coordinatorOf(pool)!
    const mine = cluster.replicas.get(pool)!.get(coordinator)!.get('pinned-db')!
    expect(mine.state).toBe('failed')
    expect(mine.reason).toContain(`pinned to ${target} by sfProcessHost`)
    expect(mine.host).toBe(target)
    void rec
  })
})
