import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { createPartVerifier } from '../../node/deploy/auth.ts'
import type { DeployAuth } from '../../node/deploy/auth.ts'
import { apiRequestBody, signApiRequest } from '../../node/security/request-auth.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'
import { generateOperatorKey, ReplayCache } from '../../protocol/auth/index.ts'
import type { TrustEntry } from '../../protocol/auth/index.ts'
import { bashShell, compound, removeTempDirs } from '../engine/fixtures.ts'
import { waitFor } from '../mesh/helpers.ts'
import { RealDeployMesh } from './real-mesh.ts'

// `sdpeer terminate POOL:PATH` on a pool split across peers, over real libp2p (TCP on 127.0.0.1, noise, yamux) and
// real engines, every owner verifying the operator's signature: from the third peer, one component of machine9's
// part ends and the rest of the pool runs on; a signature naming one component ends no other, nor a whole part; a
// part's root (computer2 on machine10) sends its record to its parent's peer, as a part that ends by itself does.

const HOSTS = ['entry.cern.ch', 'machine9.cern.ch', 'machine10.cern.ch']

const pool = (): SfJsonObject => compound({
  sfSyncTerminate: true,
  console: bashShell(),
  computer1: compound({
    sfProcessHost: HOSTS[1],
    sfSyncTerminate: false,
    shellA: bashShell(),
    shellB: bashShell(),
    // A component of machine9's part with a child part on machine10.
    group: compound({ shellG: bashShell(), inner: compound({ sfProcessHost: HOSTS[2], shellI: bashShell() }) })
  }),
  computer2: compound({ sfProcessHost: HOSTS[2], shellC: bashShell() })
})

let m: RealDeployMesh | undefined
afterEach(async () => { await m?.close(); m = undefined })
afterAll(removeTempDirs)

describe('terminating one component of a mesh pool, over real libp2p', () => {
  it('ends it on its owner (from a third peer), checks the signed path, and reports a part root to its parent', async () => {
    const operator = generateOperatorKey()
    const trusted = new Map<string, TrustEntry>([[operator.publicText, { key: operator.publicText, role: 'operator', pools: ['*'] }]])
    const sign = (req: { op: string, pool: string, [k: string]: unknown }): DeployAuth => {
      const r = signApiRequest(operator.privateKey, req)
      return { envelope: r.auth, body: apiRequestBody(r) }
    }
    m = await RealDeployMesh.start(HOSTS, 'term-comp', n => ({
      verifyPart: createPartVerifier({ trust: { lookup: k => trusted.get(k) }, replay: new ReplayCache(), now: () => Date.now(), isSelf: h => n.resolveHost(h) === n.peerId })
    }))
    const { nodes, engines, peers } = m
    const [p0, p1] = peers
    const config = pool()
    await p0.deploy('tc', config, { auth: sign({ op: 'deploy', pool: 'tc', config, wait: false }) })
    const states = async (): Promise<string[]> => (await p0.status('tc')).components.map(c => `${c.path}=${c.state}@${c.host}`)

    // From the entry peer, which holds neither: machine9 ends computer1:shellB; computer1 (sfSyncTerminate false) runs on.
    const one = { op: 'terminate', pool: 'tc', type: 'abnormal', reason: 'from the third peer', path: 'computer1:shellB' }
    await p0.terminateComponent('tc', 'computer1:shellB', 'abnormal', 'from the third peer', { auth: sign(one) })
    const others = [`computer2=running@${HOSTS[2]}`, `computer2:shellC=running@${HOSTS[2]}`, `console=running@${HOSTS[0]}`]
    expect(await states()).toEqual([
      `=running@${HOSTS[0]}`, `computer1=running@${HOSTS[1]}`, `computer1:group=running@${HOSTS[1]}`, `computer1:group:inner=running@${HOSTS[2]}`,
      `computer1:group:inner:shellI=running@${HOSTS[2]}`, `computer1:group:shellG=running@${HOSTS[1]}`, `computer1:shellA=running@${HOSTS[1]}`,
      `computer1:shellB=failed@${HOSTS[1]}`, ...others
    ])
    expect(p0.registry.get('tc')?.state).toBe('running')

    // A component whose subtree reaches another host: its remote child part (machine10) ends first, then the rest.
    // A part terminated whole leaves its engine; the mesh's lifecycle keeps its final states, so it stays listed.
    const grp = { op: 'terminate', pool: 'tc', type: 'normal', path: 'computer1:group' }
    await peers[2]!.terminateComponent('tc', 'computer1:group', 'normal', 'group done', { auth: sign(grp) })
    expect(await states()).toEqual([
      `=running@${HOSTS[0]}`, `computer1=running@${HOSTS[1]}`, `computer1:group=terminated@${HOSTS[1]}`,
      `computer1:group:inner=terminated@${HOSTS[2]}`, `computer1:group:inner:shellI=terminated@${HOSTS[2]}`,
      `computer1:group:shellG=terminated@${HOSTS[1]}`, `computer1:shellA=running@${HOSTS[1]}`, `computer1:shellB=failed@${HOSTS[1]}`, ...others
    ])
    expect(engines[2]!.status().map(p => p.pool)).toEqual(['tc--computer2'])

    // A signature naming one component ends no other, and no whole part: the owner refuses before acting.
    const other = sign({ op: 'terminate', pool: 'tc', type: 'normal', path: 'computer1:shellB' })
    await expect(p0.terminateComponent('tc', 'computer1:shellA', 'normal', 'x', { auth: other })).rejects.toThrow(/body-mismatch|names computer1:shellB, not computer1:shellA/)
    const wholePart = { type: 'terminate-part', pool: 'tc', path: 'computer2', kind: 'normal', reason: 'x', fromParent: false, auth: other } as const
    await expect(p0.request(nodes[2]!.peerId, wholePart, { attempts: 1 })).rejects.toThrow(/names computer1:shellB, not the whole pool/)
    // Nor does a whole-pool signature end one component; an unknown path is named.
    await expect(p0.terminateComponent('tc', 'computer1:shellA', 'normal', 'x', { auth: sign({ op: 'terminate', pool: 'tc', type: 'normal' }) })).rejects.toThrow(/names the whole pool, not computer1:shellA/)
    const nope = { op: 'terminate', pool: 'tc', type: 'normal', path: 'computer1:nope' }
    await expect(p1.terminateComponent('tc', 'computer1:nope', 'normal', 'x', { auth: sign(nope) })).rejects.toThrow(/tc:computer1:nope: no such component/)
    expect((await states()).filter(s => s.includes('=running'))).toHaveLength(6)

    // computer2 is the root of machine10's part: its record goes to the root's peer, whose sfSyncTerminate (true)
    // takes the pool down, as when a part ends by itself.
    const root2 = { op: 'terminate', pool: 'tc', type: 'normal', path: 'computer2' }
    await p1.terminateComponent('tc', 'computer2', 'normal', 'part root', { auth: sign(root2) })
    await waitFor('pool terminated', () => p0.registry.get('tc')?.state === 'terminated', 15_000)
    expect(p0.registry.get('tc')?.reason).toBe('normal: part root (at computer2)')
    expect((await states()).filter(s => s.includes('=running'))).toEqual([])
  }, 60_000)
})
