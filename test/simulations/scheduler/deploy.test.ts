import { describe, expect, it } from 'vitest'
import { makeWorkload } from '../../../simulations/scheduler/workload.ts'
import { overcommitted, runDeploy } from '../../../simulations/scheduler/scenarios.ts'

describe('scheduler simulation: concurrent deploys', () => {
  it('10 deployers x 10 pools x 20 VMs onto 20 hosts at once: every VM placed, no host over-committed', async () => {
    const w = makeWorkload({ seed: 11, hosts: 20, deployers: 10, poolsPerDeployer: 10, vmsPerPool: 20, fill: 0.85 })
    const { cluster, figures } = await runDeploy(w, { seed: 11 })
    expect(figures.errors).toEqual([])
    expect(figures.placed).toBe(2000)
    // asserted from every host's own admission accounting
    expect(overcommitted(cluster)).toEqual([])
    let committed = 0
    for (const h of cluster.mesh.hosts.values()) {
      const a = h.admission.accounting()
      expect(a.committed.memoryMiB).toBeLessThanOrEqual(a.capacity.memoryMiB)
      expect(a.committed.vcpus).toBeLessThanOrEqual(a.capacity.vcpus)
      expect(a.reserved).toEqual({ memoryMiB: 0, vcpus: 0 }) // everything committed, nothing left dangling
      committed += a.entries.length
    }
    expect(committed).toBe(2000)
    // every VM runs exactly once
    expect([...cluster.copies().values()].every(hosts => hosts.length === 1)).toBe(true)
    expect(cluster.copies().size).toBe(2000)
    console.log(`20 hosts, 10 deployers: refused ${figures.refused}/${figures.attempts}, imbalance ${figures.load.imbalance.toFixed(3)} (central ${figures.central.imbalance.toFixed(3)}), ${figures.events} events, ${figures.wallMs.toFixed(0)} ms`)
  })

  it('a mesh too small for the demand refuses, and still never over-commits', async () => {
    const w = makeWorkload({ seed: 5, hosts: 10, deployers: 10, poolsPerDeployer: 3, vmsPerPool: 20, fill: 1.3 })
    const { cluster, figures } = await runDeploy(w, { seed: 5 })
    expect(figures.failedPools).toBeGreaterThan(0)
    expect(figures.refused).toBeGreaterThan(0)
    expect(overcommitted(cluster)).toEqual([])
    // a failed pool leaves nothing behind: every entry belongs to a pool that succeeded
    const ok = new Set(cluster.outcomes.filter(o => !o.error).map(o => o.pool))
    for (const h of cluster.mesh.hosts.values()) for (const e of h.admission.entries()) expect(ok.has(e.pool)).toBe(true)
    expect(figures.errors[0]).toMatch(/^(ReservationRefusedError|NoHostFitsError): /)
  })

  it('is repeatable from its seed', async () => {
    const run = async (seed: number) => {
      const { cluster, figures } = await runDeploy(makeWorkload({ seed, hosts: 30, deployers: 5, poolsPerDeployer: 4, vmsPerPool: 10 }), { seed, poolDeployMs: [500, 1500] })
      return { figures: { ...figures, wallMs: 0, placementsPerCpuSecond: 0 }, where: cluster.outcomes.map(o => o.placed.map(p => p.host).join()) }
    }
    const a = await run(3)
    expect(await run(3)).toEqual(a)
    expect((await run(4)).where).not.toEqual(a.where)
  })
})
