import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import type { ResultPromise } from 'execa'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { SimDriver } from '../../node/drivers/sim.ts'
import { createEngine } from '../../node/engine/index.ts'
import type { PoolEngine } from '../../node/engine/index.ts'
import type { DomainHandle, HypervisorDriver } from '../../node/drivers/types.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'
import { bashShell, compound, domain, filesUnder, lazy, makeBaseTarball, storage, tempDir, removeTempDirs } from './fixtures.ts'

// SIGKILL and restart: a real child process runs the engine (sim driver with its table in a file, real loopback
// storage), is killed with SIGKILL at a chosen moment, and a new engine on the same state dir must find the pool,
// re-attach to the domains that still run without starting them again, or clean up what was half-deployed.

let base: string
let dir: string
let child: ResultPromise | undefined
let engine: PoolEngine | undefined

beforeAll(async () => {
  base = await makeBaseTarball(await tempDir('restart-base'))
})

afterEach(async () => {
  child?.kill('SIGKILL')
  await child?.catch(() => {})
  child = undefined
  await engine?.stop()
})

function pool (extra: SfJsonObject = {}): SfJsonObject {
  return compound({
    sfSyncTerminate: true,
    myShell: bashShell(),
    loopA: storage('Loopback', { domainName: 'domA', baseImage: base, volumeSize: '8M' }),
    domA: domain({ ip: '192.0.2.11', hostname: 'doma', storageBackend: lazy('ATTRIB loopA'), domainLivenessDelay: 200 }),
    ...extra
  })
}

/** Starts the kill target and resolves once it printed a line matching `until`. */
async function runUntil (config: SfJsonObject, until: RegExp, andThen?: () => Promise<boolean>): Promise<string[]> {
  const args = { stateDir: join(dir, 'state'), simState: join(dir, 'sim.json'), pool: 'p', config }
  const proc = execa(process.execPath, ['test/engine/kill-target.ts', JSON.stringify(args)], { cwd: process.cwd(), buffer: false, reject: false })
  child = proc
  const lines: string[] = []
  await new Promise<void>((resolve, reject) => {
    let text = ''
    proc.stdout?.on('data', (b: Buffer) => {
      text += b.toString()
      const parts = text.split('\n')
      text = parts.pop() ?? ''
      for (const l of parts) {
        lines.push(l)
        if (until.test(l)) resolve()
        if (l.startsWith('FAILED')) reject(new Error(l))
      }
    })
    void proc.then(r => reject(new Error(`kill target exited: ${String(r.stderr ?? '')}`)))
  })
  for (let i = 0; andThen && !await andThen(); i++) {
    if (i > 500) throw new Error('condition not reached')
    await new Promise(resolve => setTimeout(resolve, 10))
  }
  proc.kill('SIGKILL')
  await proc.catch(() => {})
  child = undefined
  return lines
}

/**
 * `byName`: destroy() with a name-only handle ({data: {}}) acts on the domain of that name, as `xl destroy NAME`
 * does. The sim driver matches handles by id too, so the test gives it the id from its own table.
 */
function restart (byName = false): PoolEngine {
  const simFile = join(dir, 'sim.json')
  const sim = new SimDriver({ stateFile: simFile })
  const driver: HypervisorDriver = !byName
    ? sim
    : {
        name: sim.name,
        fingerprint: () => sim.fingerprint(),
        start: (s, o) => sim.start(s, o),
        status: h => sim.status(h),
        shutdown: (h, t) => sim.shutdown(h, t),
        list: () => sim.list(),
        recover: h => sim.recover(h),
        destroy: async (h: DomainHandle) => {
          if (Object.keys(h.data).length > 0) return await sim.destroy(h)
          const table = JSON.parse(await readFile(simFile, 'utf8')) as { domains: Array<{ name: string, id: string }> }
          const row = table.domains.find(d => d.name === h.name)
          if (row) await sim.destroy({ ...h, data: { id: row.id } })
        }
      }
  engine = createEngine({ host: 'h1', stateDir: join(dir, 'state'), driver })
  return engine
}

describe('SIGKILL and restart', () => {
  it('re-attaches to a running pool without starting anything twice, then terminates it cleanly', async () => {
    dir = await tempDir('restart-running')
    await runUntil(pool(), /^RUNNING$/)
    const sim = new SimDriver({ stateFile: join(dir, 'sim.json') })
    expect(await sim.list()).toEqual(['domA'])
    const before = await readdir(join(dir, 'state', 'storage', 'p', 'loopA'))
    expect(before).toEqual(['domA-disk.img'])

    const e = restart()
    await e.start()
    await e.recover()
    const st = e.status('p')[0]
    expect(st.state).toBe('running')
    expect(st.components.map(c => `${c.path}=${c.state}`)).toEqual(['=running', 'myShell=running', 'loopA=running', 'domA=running'])
    expect(e.logs('p', 'domA').some(l => /re-attached to domain domA/.test(l))).toBe(true)
    expect(e.logs('p', 'domA').some(l => /started/.test(l))).toBe(false)
    // Still one domain, the same one.
    expect(await new SimDriver({ stateFile: join(dir, 'sim.json') }).list()).toEqual(['domA'])

    await e.terminate('p', 'normal')
    expect(await new SimDriver({ stateFile: join(dir, 'sim.json') }).list()).toEqual([])
    expect(await filesUnder(join(dir, 'state', 'storage'))).toEqual([])
    expect(await readdir(join(dir, 'state', 'pools'))).toEqual([])
  }, 60_000)

  it('terminates a pool killed half-deployed: running domain destroyed, partial storage removed', async () => {
    dir = await tempDir('restart-half')
    const config = pool({
      loopB: storage('Loopback', { domainName: 'domB', baseImage: base, volumeSize: '8M', simBlockPrepare: true }),
      domB: domain({ ip: '192.0.2.12', hostname: 'domb', storageBackend: lazy('ATTRIB loopB') })
    })
    await runUntil(config, /^BLOCKED loopB$/)
    expect(await new SimDriver({ stateFile: join(dir, 'sim.json') }).list()).toEqual(['domA'])
    expect((await filesUnder(join(dir, 'state', 'storage'))).sort()).toEqual(['p/loopA/domA-disk.img', 'p/loopB/partial.img'])

    const e = restart()
    await e.start()
    await e.recover()
    const st = e.status('p')[0]
    expect(st.state).toBe('failed')
    expect(st.termination?.reason).toMatch(/daemon restarted while the pool was (deploying|deployed)/)
    expect(await new SimDriver({ stateFile: join(dir, 'sim.json') }).list()).toEqual([])
    expect(await filesUnder(join(dir, 'state', 'storage'))).toEqual([])
    expect(await readdir(join(dir, 'state', 'pools'))).toEqual([])
    // A second restart finds nothing left to do.
    const again = restart()
    await again.recover()
    expect(again.status()).toEqual([])
  }, 60_000)

  it('destroys a domain the daemon was killed while starting, found by the name its description gives it', async () => {
    dir = await tempDir('restart-starting')
    const config = pool({
      loopB: storage('Loopback', { domainName: 'domB', baseImage: base, volumeSize: '8M' }),
      domB: domain({ ip: '192.0.2.12', hostname: 'domb', storageBackend: lazy('ATTRIB loopB'), simBootMs: 60_000 })
    })
    // domB boots for a minute: killed once the hypervisor (the sim's table) has it.
    await runUntil(config, /^STATE loopB running$/, async () => {
      const text = await readFile(join(dir, 'sim.json'), 'utf8').catch(() => '{}')
      return text.includes('"domB"')
    })
    expect(await new SimDriver({ stateFile: join(dir, 'sim.json') }).list()).toEqual(['domA', 'domB'])
    const e = restart(true)
    await e.recover()
    expect(e.status('p')[0].state).toBe('failed')
    expect(await new SimDriver({ stateFile: join(dir, 'sim.json') }).list()).toEqual([])
    expect(await filesUnder(join(dir, 'state', 'storage'))).toEqual([])
  }, 60_000)

  it('a domain that died while the daemon was down ends its pool ABNORMAL on recovery', async () => {
    dir = await tempDir('restart-died')
    await runUntil(pool(), /^RUNNING$/)
    // The guest dies while no daemon watches it.
    const sim = new SimDriver({ stateFile: join(dir, 'sim.json') })
    const [name] = await sim.list()
    await sim.destroy({ driver: 'sim', name, data: JSON.parse(await readFile(join(dir, 'state', 'pools', 'p.json'), 'utf8')).components.domA.saved.handle.data })
    expect(await sim.list()).toEqual([])

    const e = restart()
    await e.recover()
    for (let i = 0; i < 100 && e.status('p')[0].state !== 'failed'; i++) await new Promise(resolve => setTimeout(resolve, 20))
    const st = e.status('p')[0]
    expect(st.state).toBe('failed')
    expect(st.termination).toMatchObject({ type: 'abnormal', path: 'domA' })
    expect(st.termination?.reason).toMatch(/domA missing while the daemon was down/)
    for (let i = 0; i < 100 && (await filesUnder(join(dir, 'state', 'storage'))).length; i++) await new Promise(resolve => setTimeout(resolve, 20))
    expect(await filesUnder(join(dir, 'state', 'storage'))).toEqual([])
  }, 60_000)
})

afterAll(removeTempDirs)
