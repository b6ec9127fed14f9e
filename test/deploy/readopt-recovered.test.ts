import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { SimDriver } from '../../node/drivers/sim.ts'
import { createEngine } from '../../node/engine/index.ts'
import { PoolEnginePartEngine } from '../../node/deploy/engine-adapter.ts'
import { fenceRecovered } from '../../node/deploy/fence-recovered.ts'
import { partPlans } from '../../node/deploy/part-plans.ts'
import { DeployPeer } from '../../node/deploy/peer.ts'
import { splitPool } from '../../node/deploy/split.ts'
import type { DeployRequest, PoolRecordView } from '../../node/deploy/types.ts'
import { HostAdmission } from '../../node/scheduler/admission.ts'
import { realClock } from '../../node/seams/clock.ts'
import { bashShell, compound, domain, fileStorage, lazy, removeTempDirs, storage, tempDir } from '../engine/fixtures.ts'

// A restarted host's engine recovers both parts it ran (real engine, sim driver with its state file, in one
// process: the first engine stops without terminating, as a daemon that is killed). The pool record, learnt from a
// peer, moved one of them to another host meanwhile: that one is stopped (fencing). The other is still placed here:
// it is taken back — its parent's ping finds it, `status` lists it, its domain counts in admission again, and its
// parent's terminate ends it and gives the capacity back.

afterAll(removeTempDirs)

const computer = (n: number): ReturnType<typeof compound> => compound({
  sfProcessHost: 'h1',
  sfSyncTerminate: true,
  myShell: bashShell(),
  loop: storage('Loopback', { domainName: `dom${n}` }),
  domain: domain({ ip: `192.0.2.${10 + n}`, hostname: `dom${n}`, memory: 512 * n, storageBackend: lazy('ATTRIB loop') })
})

describe('recovered parts after a restart', () => {
  it('fences the part placed elsewhere meanwhile, takes back the one still placed here (lifecycle and admission)', async () => {
    const dir = await tempDir('readopt')
    const engineAt = (): ReturnType<typeof createEngine> => createEngine({ host: 'h1', stateDir: join(dir, 'state'), driver: new SimDriver({ stateFile: join(dir, 'sim.json') }), storage: fileStorage() })
    const plan = splitPool(compound({ sfSyncTerminate: true, computer1: computer(1), computer2: computer(2) }), { pool: 'dist', entryPeer: 'E', entryHost: 'entry', resolveHost: h => h === 'h1' ? 'P1' : 'E' })
    const mine = plan.parts.filter(p => p.peer === 'P1')
    expect(mine.map(p => p.path)).toEqual(['computer1', 'computer2'])

    const first = engineAt()
    await first.start()
    const before = new PoolEnginePartEngine({ engine: first, admission: new HostAdmission({ host: 'h1', capacity: { memoryMiB: 2048, vcpus: 4 }, clock: realClock }) })
    expect(await before.prepare('d1', 'dist', mine)).toEqual({ ok: true })
    await before.deploy('d1', 'dist', mine)
    await first.stop()

    // While h1 was away, computer2 was placed on h2 at epoch 2.
    const record: PoolRecordView = {
      pool: 'dist', entry: 'E', deployId: 'd1', state: 'running', version: 7, claims: { names: [], ips: [] },
      participants: ['E', 'P1', 'P2'],
      parts: plan.parts.map(p => ({ path: p.path, host: p.host, peer: p.peer, ...(p.parentPath !== undefined ? { parentPath: p.parentPath } : {}) }))
        .map(p => p.path === 'computer2' ? { ...p, host: 'h2', peer: 'P2', epoch: 2 } : p),
      partPlans: partPlans('dist', plan.parts, [])
    }
    const second = engineAt()
    await second.start()
    await second.recover()
    expect(second.status().map(p => `${p.pool}=${p.state}`).sort()).toEqual(['dist--computer1=running', 'dist--computer2=running'])
    const admission = new HostAdmission({ host: 'h1', capacity: { memoryMiB: 2048, vcpus: 4 }, clock: realClock })
    const asked: DeployRequest[] = []
    const peer = new DeployPeer({
      self: 'P1', selfHost: 'h1', clock: realClock,
      engine: new PoolEnginePartEngine({ engine: second, admission }),
      transport: { request: async (_to, req) => { asked.push(req); return req.type === 'registry-list' ? { type: 'registry', records: [record] } : { type: 'ok' } } },
      resolveHost: () => undefined,
      members: () => ['E', 'P1']
    })
    peer.start()
    const out = await fenceRecovered({ engine: second, peer, members: () => ['E', 'P1'], clock: realClock, log: () => {}, waitMs: 1000 })
    expect(out.learned).toBe(true)
    expect(out.stopped).toEqual([{ enginePool: 'dist--computer2', reason: 'placed on h2 at epoch 2' }])
    expect(out.readopted).toEqual(['dist:computer1'])

    // In the lifecycle: the parent's ping is answered for computer1 only; status lists it; it watches its parent.
    expect(await peer.handle('E', { type: 'ping', pool: 'dist', path: 'computer1' })).toEqual({ type: 'pong', alive: true })
    expect(await peer.handle('E', { type: 'ping', pool: 'dist', path: 'computer2' })).toEqual({ type: 'pong', alive: false })
    const part = peer.participant.lifecycle.get('dist', 'computer1')
    expect(part).toMatchObject({ state: 'running', epoch: 1, plan: { parentPeer: 'E', peer: 'P1' } })
    const st = await peer.handle('E', { type: 'status', pool: 'dist' })
    expect(st.type === 'status' ? st.components.filter(c => c.state === 'running').map(c => c.path) : st).toEqual(['computer1', 'computer1:myShell', 'computer1:loop', 'computer1:domain'])
    // In admission: computer1's domain (512 MiB) counts again; computer2's (1024) does not.
    expect(admission.entries().map(e => `${e.vmId}@${e.epoch}=${e.state}:${e.memoryMiB}`)).toEqual(['computer1:domain@1=committed:512'])
    expect(admission.free()).toEqual({ memoryMiB: 1536, vcpus: 3 })

    // Its parent's cascade ends it, and gives the capacity back.
    expect(await peer.handle('E', { type: 'terminate-part', pool: 'dist', path: 'computer1', kind: 'normal', reason: 'done', fromParent: true })).toEqual({ type: 'ok' })
    expect(second.status().filter(p => p.state !== 'terminated').map(p => p.pool)).toEqual([])
    expect(admission.free()).toEqual({ memoryMiB: 2048, vcpus: 4 })
    expect(await new SimDriver({ stateFile: join(dir, 'sim.json') }).list()).toEqual([])
    // Nothing was reported upwards for a cascade from the parent.
    expect(asked.filter(r => r.type === 'termination')).toEqual([])
    peer.stop()
    await second.stop()
  }, 30_000)
})
