import { preSharedKey } from '@libp2p/pnet'
import { multiaddr } from '@multiformats/multiaddr'
import { afterEach, describe, expect, it } from 'vitest'
import { ReplayCache, generateOperatorKey } from '../../protocol/auth/index.ts'
import { attachDeploy } from '../../node/deploy/mesh-wiring.ts'
import { createPartVerifier } from '../../node/deploy/auth.ts'
import type { DeployPeer } from '../../node/deploy/peer.ts'
import { rpcDeployTransport } from '../../node/deploy/rpc-transport.ts'
import { generatePoolKeyText, parsePoolKey } from '../../node/security/pool-key.ts'
import { apiRequestBody, signApiRequest } from '../../node/security/request-auth.ts'
import { realClock } from '../../node/seams/clock.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'
import { FakeEngine } from '../../simulations/deploy/fake-engine.ts'
import { aliveView, TestMesh, waitFor } from '../mesh/helpers.ts'
import { computer, pool } from '../deploy/fixtures.ts'

// Real libp2p (TCP on 127.0.0.1, noise, yamux) with the pool key as a private-network connection protector, and
// every deploy peer checking operator signatures: a peer holding another pool key cannot connect, list or deploy;
// peers sharing the key deploy a signed pool, and refuse an unsigned one.

let mesh: TestMesh | undefined
afterEach(async () => { await mesh?.close(); mesh = undefined })

const protector = (text: string) => preSharedKey({ psk: parsePoolKey(text).protectorKey })

describe('the pool key over real libp2p', () => {
  it('a peer with another pool key cannot connect, list or deploy; peers with the same key deploy signed pools only', async () => {
    mesh = new TestMesh()
    const key1 = generatePoolKeyText()
    const key2 = generatePoolKeyText()
    const a = await mesh.add('machine9.cern.ch', { connectionProtector: protector(key1) })
    const b = await mesh.add('machine10.cern.ch', { connectionProtector: protector(key1), bootstrap: [a.multiaddrs()[0]] })
    const stranger = await mesh.add('stranger.cern.ch', { connectionProtector: protector(key2), bootstrap: [a.multiaddrs()[0]] })
    await waitFor('a and b alive', () => aliveView(a, [a, b]) && aliveView(b, [a, b]))
    await waitFor('directory', () => a.resolveHost('machine10.cern.ch') === b.peerId && b.resolveHost('machine9.cern.ch') === a.peerId)

    // The stranger's dial fails in the protector's handshake, before noise or any sdpeer protocol.
    const t0 = performance.now()
    await expect(stranger.libp2p.dial(multiaddr(a.multiaddrs()[0]), { signal: AbortSignal.timeout(2000) })).rejects.toThrow()
    console.log(`dial with the wrong pool key refused in ${(performance.now() - t0).toFixed(0)} ms`)
    expect(a.membership.member(stranger.peerId)).toBeUndefined()
    expect(a.resolveHost('stranger.cern.ch')).toBeUndefined()
    expect(stranger.resolveHost('machine9.cern.ch')).toBeUndefined()

    const replayA = new ReplayCache(); const replayB = new ReplayCache()
    const op = generateOperatorKey()
    const trust = { lookup: (k: string) => k === op.publicText ? { key: k, role: 'operator' as const, pools: ['*'] } : undefined }
    const engines = [new FakeEngine({ host: 'machine9.cern.ch', clock: realClock, capacity: { memoryMiB: 8192, vcpus: 8 } }), new FakeEngine({ host: 'machine10.cern.ch', clock: realClock, capacity: { memoryMiB: 8192, vcpus: 8 } })]
    const peers: DeployPeer[] = []
    for (const [i, n] of [a, b].entries()) {
      peers.push(await attachDeploy(n, {
        selfHost: engines[i].host,
        engine: engines[i],
        timings: { requestTimeoutMs: 5000, attempts: 1 },
        verifyPart: createPartVerifier({ trust, replay: [replayA, replayB][i], now: () => Date.now(), isSelf: h => n.resolveHost(h) === n.peerId })
      }))
    }

    // Listing or preparing on a from the stranger: no connection, so no answer.
    const fromStranger = rpcDeployTransport(stranger.rpc)
    await expect(fromStranger.request(a.peerId, { type: 'registry-list' }, { timeoutMs: 3000 })).rejects.toMatchObject({ name: 'DeployTransportError' })

    const config: SfJsonObject = pool({ x: computer('machine9.cern.ch', [{ name: 'd1', ip: '10.0.0.1' }]), y: computer('machine10.cern.ch', [{ name: 'd2', ip: '10.0.0.2' }]) })
    await expect(peers[1].deploy('unsigned', config)).rejects.toMatchObject({ name: 'DeployFailedError', message: expect.stringContaining('AuthError: unsigned') })
    expect(engines.flatMap(e => e.actions)).toEqual([])

    const req = signApiRequest(op.privateKey, { op: 'deploy', pool: 'signed', config, wait: false })
    const res = await peers[1].deploy('signed', config, { auth: { envelope: req.auth, body: apiRequestBody(req) } })
    expect(res.components.filter(c => c.type === 'XenDomain').map(c => c.host)).toEqual(['machine9.cern.ch', 'machine10.cern.ch'])
    // Listing works between members.
    const list = await rpcDeployTransport(a.rpc).request(b.peerId, { type: 'registry-list' }, { timeoutMs: 3000 })
    expect(list.type === 'registry' && list.records.map(r => [r.pool, r.state])).toContainEqual(['signed', 'running'])
    expect(replayA.size).toBe(1)
    // Terminating needs the operator's signature too: unsigned, the owners refuse and say so.
    await expect(peers[0].terminate('signed')).rejects.toMatchObject({ name: 'TerminateRefusedError', message: expect.stringContaining('unsigned') })
    const t = signApiRequest(op.privateKey, { op: 'terminate', pool: 'signed', type: 'normal' })
    await peers[0].terminate('signed', 'normal', undefined, { auth: { envelope: t.auth, body: apiRequestBody(t) } })
    expect(engines.every(e => e.live('signed').length === 0)).toBe(true)
    for (const p of peers) p.stop()
  }, 60_000)
})
