import { afterAll, afterEach, describe, expect, it } from 'vitest'
import type { DeployPeer, MeshPoolStatus } from '../../node/deploy/peer.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'
import { bashShell, compound, domain, removeTempDirs } from '../engine/fixtures.ts'
import { waitFor } from '../mesh/helpers.ts'
import { RealDeployMesh } from './real-mesh.ts'

// Remote children ending under a root without sfSyncTerminate, over real libp2p (TCP on 127.0.0.1, noise, yamux) and
// real engines: a child part terminated on its own peer sends its record to the root's peer, and a VM pinned on a
// host that leaves the mesh fails the root's liveness; each time the root runs on, and every peer's status lists
// the child with its record. A compound of the root's part with sfSyncTerminate ends with its own remote child.

const HOSTS = ['entry.cern.ch', 'machine9.cern.ch', 'machine10.cern.ch']

const pool = (): SfJsonObject => compound({
  sfSyncTerminate: false,
  sfLivenessDelay: 1,
  console: bashShell(),
  computer1: compound({ sfProcessHost: HOSTS[1], shellA: bashShell() }),
  // A compound of the root's part that shares its remote child's fate: it ends with it; the root, which does not, runs on.
  group: compound({ sfSyncTerminate: true, shellG: bashShell(), inner: compound({ sfProcessHost: HOSTS[1], shellI: bashShell() }) }),
  vm: domain({ sfProcessHost: HOSTS[2], domainName: 'vm-m10', ip: '192.0.2.20', hostname: 'vm-m10', memory: 256, domainLivenessCheck: false })
})

const lineOf = (st: MeshPoolStatus, path: string): string => {
  const c = st.components.find(x => x.path === path)
  return c === undefined ? 'absent' : `${c.state}@${c.host}${c.reason !== undefined ? ` ${c.reason}` : ''}`
}

let m: RealDeployMesh | undefined
afterEach(async () => { await m?.close(); m = undefined })
afterAll(removeTempDirs)

describe('a remote child ends, its parent without sfSyncTerminate runs on, over real libp2p', () => {
  it('records a terminated child part and a VM whose host left, with their reasons, visible from every peer', async () => {
    m = await RealDeployMesh.start(HOSTS, 'child-term')
    const { nodes, engines, peers } = m
    const [p0, p1, p2] = peers as [DeployPeer, DeployPeer, DeployPeer]
    await p0.deploy('ct', pool())
    await waitFor('registry replicated', () => peers.every(p => p.ls()[0]?.state === 'running'))
    const line = async (p: DeployPeer, path: string): Promise<string> => lineOf(await p.status('ct'), path)

    // `sdpeer terminate ct:computer1` from machine10: machine9's part ends and its record crosses to the root's peer.
    await p2.terminateComponent('ct', 'computer1', 'normal', 'computer1 done')
    await waitFor('computer1 recorded', () => p0.participant.lifecycle.get('ct', '')?.childRecords.has('computer1') === true, 10_000)
    expect(await line(p1, 'computer1')).toBe(`terminated@${HOSTS[1]} computer1 done`)
    expect(await line(p2, '')).toBe(`running@${HOSTS[0]}`)
    expect(await line(p2, 'console')).toBe(`running@${HOSTS[0]}`)
    expect(await line(p2, 'vm')).toBe(`running@${HOSTS[2]}`)
    expect(await line(p2, 'group')).toBe(`running@${HOSTS[0]}`)

    // group:inner ends on machine9: group (sfSyncTerminate) ends with it, in the root's engine; the root runs on.
    await p1.terminateComponent('ct', 'group:inner', 'abnormal', 'inner failed')
    await waitFor('group ended', () => engines[0]!.status('ct')[0]?.components.find(c => c.path === 'group')?.state === 'terminated', 10_000)
    expect(await line(p1, 'group:inner')).toBe(`failed@${HOSTS[1]} inner failed`)
    expect(await line(p1, 'group')).toBe(`terminated@${HOSTS[0]} inner failed`)
    expect(await line(p1, 'group:shellG')).toBe(`terminated@${HOSTS[0]} inner failed`)
    expect(await line(p1, '')).toBe(`running@${HOSTS[0]}`)
    expect(await line(p1, 'console')).toBe(`running@${HOSTS[0]}`)

    // machine10 leaves the mesh: the root's pings to its VM fail, and the VM is recorded failed with its host.
    const m10 = nodes[2]!.peerId
    p2.stop()
    await nodes[2]!.stop({ leave: true })
    await waitFor('vm recorded', () => p0.participant.lifecycle.get('ct', '')?.childRecords.has('vm') === true, 15_000)
    // (One status per peer: each waits out the departed owner, listed as not answering.)
    const st = await p1.status('ct')
    expect(st.unreachable).toEqual([m10])
    const at = (path: string): string => lineOf(st, path)
    expect([at('vm'), at(''), at('console')]).toEqual([`failed@${HOSTS[2]} host ${HOSTS[2]} lost (peer ${m10})`, `running@${HOSTS[0]}`, `running@${HOSTS[0]}`])
    expect(p0.registry.get('ct')?.state).toBe('running')
    expect(engines[0]!.status('ct')[0]?.state).toBe('running')

    // The root still ends on request, on its own peer (a whole-pool terminate would wait out the departed owner).
    await p0.terminateComponent('ct', '', 'normal', 'done')
    await waitFor('pool ended', () => p1.registry.get('ct')?.state === 'terminated', 10_000)
    expect(engines.slice(0, 2).flatMap(e => e.status().map(p => p.pool))).toEqual([])
  }, 60_000)
})
