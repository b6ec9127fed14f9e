import { describe, expect, it } from 'vitest'
import { runLibp2pContention } from '../../simulations/scheduler/libp2p-contention.ts'

// Issue 6's contention goal, smaller, over real libp2p (TCP loopback, noise, yamux, gossipsub announcements): hosts
// in two child processes, every deployer deploying its pools at the same moment, every host judging its own
// reservations. The full size (10 x 10 x 20 VMs on 20 hosts) is simulations/scheduler/deploy-mesh.ts.

describe('scheduled deploys at once over real libp2p', () => {
  it('4 deployers x 3 pools x 10 VMs onto 6 hosts: every VM placed, no host ever over-committed by its own accounting', async () => {
    // A patient failure detector (the daemon's declares starved peers dead when the shared machine is loaded, and a
    // peer declared dead is hung up on): this test is about the hosts judging, deploy-mesh.ts --probe 0 about both.
    const f = await runLibp2pContention({
      deployers: 4, pools: 3, vms: 10, hosts: 6, procs: 2, fill: 0.95, seed: 3, holdMs: 1000,
      timings: { requestTimeoutMs: 10_000 }, membership: { probeIntervalMs: 1000, probeTimeoutMs: 800, suspicionMult: 8 }
    })
    console.log(`libp2p contention 4x3x10 on 6 hosts: ${f.poolsDeployed}/${f.pools} pools, ${f.afterHold.vmsPlaced}/${f.vms} VMs, ${f.attempts} attempts, ${f.refusals} refused, deploys ${(f.wallMs / 1000).toFixed(1)} s (converged at ${(f.convergeMs / 1000).toFixed(1)} s), ${f.afterHold.suspicions} suspicions, ${f.afterHold.deaths} deaths`, f.failures)
    expect(f.failures).toEqual([])
    expect(f.poolsDeployed).toBe(12)
    for (const look of [f.afterDeploy, f.afterHold]) {
      // From the hosts' own HostAdmission accounting, not from what the deployers believe.
      expect(look.vmsPlaced).toBe(120)
      expect(look.poolsWhole).toBe(12)
      expect(look.reservedLeft).toBe(0)
      expect(look.overCommitted).toBe(0)
      expect(look.overSeen).toBe(0)
    }
    // Every refusal met cost a deploy attempt more, never a lost pool.
    expect(f.attempts).toBeGreaterThanOrEqual(12 + (f.refusals > 0 ? 1 : 0))
  }, 180_000)
})
