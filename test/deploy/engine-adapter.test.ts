import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { SimDriver } from '../../node/drivers/sim.ts'
import { createEngine } from '../../node/engine/index.ts'
import { enginePoolName, PoolEnginePartEngine } from '../../node/deploy/engine-adapter.ts'
import { splitPool } from '../../node/deploy/split.ts'
import { HostAdmission } from '../../node/scheduler/admission.ts'
import { realClock } from '../../node/seams/clock.ts'
import { bashShell, compound, domain, fileStorage, lazy, removeTempDirs, storage, tempDir } from '../engine/fixtures.ts'
import type { StorageCall } from '../engine/fixtures.ts'

// The participant's face over the real engine (sim driver, file-backed storage stand-in): one part deployed as
// an engine pool of its own, placeholders left alone, paths mapped, reservations through host admission.

afterAll(removeTempDirs)

function config (memory: number, domainExtra: Record<string, number> = {}) {
  return compound({
    sfSyncTerminate: true,
    console: bashShell(),
    computer1: compound({
      sfProcessHost: 'h1',
      sfSyncTerminate: true,
      myShell: bashShell(),
      loop: storage('Loopback', { domainName: 'dom1' }),
      domain1: domain({ ip: '192.0.2.10', hostname: 'dom1', memory, storageBackend: lazy('ATTRIB loop'), ...domainExtra })
    })
  })
}

describe('PoolEnginePartEngine', () => {
  it('deploys a part as its own engine pool, maps paths, reserves through admission, terminates', async () => {
    const dir = await tempDir('deploy-adapter')
    const calls: StorageCall[] = []
    const engine = createEngine({ host: 'h1', stateDir: join(dir, 'state'), driver: new SimDriver({ clock: realClock }), storage: fileStorage(calls) })
    await engine.start()
    const admission = new HostAdmission({ host: 'h1', capacity: { memoryMiB: 1024, vcpus: 4 }, clock: realClock })
    const parts = new PoolEnginePartEngine({ engine, admission })
    const plan = splitPool(config(768), { pool: 'dist', entryPeer: 'E', entryHost: 'entry', resolveHost: h => h === 'h1' ? 'P1' : h === 'entry' ? 'E' : undefined })
    const part = plan.parts[1]
    expect(part.path).toBe('computer1')

    expect(await parts.prepare('d1', 'dist', [part])).toEqual({ ok: true })
    expect(admission.free().memoryMiB).toBe(256)
    // A second deploy of the same size does not fit.
    const again = splitPool(config(768), { pool: 'other', entryPeer: 'E', entryHost: 'entry', resolveHost: () => 'P1' })
    expect(await parts.prepare('d2', 'other', [again.parts[1]])).toMatchObject({ ok: false, reason: expect.stringContaining('computer1:domain1: no capacity on h1') })

    const st = await parts.deploy('d1', 'dist', [part])
    expect(st.map(c => `${c.path}=${c.state}`)).toEqual(['computer1=running', 'computer1:myShell=running', 'computer1:loop=running', 'computer1:domain1=running'])
    expect(engine.status(enginePoolName('dist', 'computer1'))[0].state).toBe('running')
    expect(parts.get('dist', 'computer1:domain1', 'hostname')).toBe('dom1')
    parts.set('dist', 'computer1:domain1', 'memory', 512)
    expect(parts.get('dist', 'computer1:domain1', 'memory')).toBe(512)
    expect(admission.entries().map(e => e.state)).toEqual(['committed'])

    const ended: string[] = []
    parts.onPartTerminated((pool, path) => ended.push(`${pool}:${path}`))
    await parts.terminate('dist', 'computer1', { type: 'normal', reason: 'test', path: 'computer1' })
    expect(parts.status('dist', 'computer1').every(c => c.state === 'terminated')).toBe(true)
    expect(admission.free().memoryMiB).toBe(1024)
    expect(calls.map(c => `${c.kind} ${c.op}`)).toEqual(['loopback prepare', 'loopback teardown'])
    // Ending it ourselves is not news for the mesh.
    expect(ended).toEqual([])
    await engine.stop()
  })

  it('reports a part that ends on its own (its domain crashed) with the record\'s path in the pool', async () => {
    const dir = await tempDir('deploy-adapter')
    const engine = createEngine({ host: 'h1', stateDir: join(dir, 'state'), driver: new SimDriver({ clock: realClock }), storage: fileStorage([]) })
    await engine.start()
    const parts = new PoolEnginePartEngine({ engine })
    const ended: Array<[string, string, unknown]> = []
    parts.onPartTerminated((pool, path, record) => ended.push([pool, path, record]))
    const plan = splitPool(config(256, { simCrashAfterMs: 50, domainLivenessDelay: 20, domainLivenessFactor: 1 }), { pool: 'dist', entryPeer: 'E', entryHost: 'entry', resolveHost: () => 'P1' })
    await parts.prepare('d1', 'dist', [plan.parts[1]])
    await parts.deploy('d1', 'dist', [plan.parts[1]])
    const t0 = Date.now()
    while (ended.length === 0 && Date.now() - t0 < 5000) await new Promise(resolve => setTimeout(resolve, 20))
    expect(ended).toEqual([['dist', 'computer1', expect.objectContaining({ type: 'abnormal', path: expect.stringMatching(/^computer1:domain1/) })]])
    await engine.stop()
  })

  it('names engine pools within the engine\'s rules', () => {
    expect(enginePoolName('dist', '')).toBe('dist')
    expect(enginePoolName('dist', 'computer1:sub')).toBe('dist--computer1.sub')
    expect(enginePoolName('dist', 'x'.repeat(80))).toMatch(/^dist--[0-9a-f]{20}$/)
  })
})
