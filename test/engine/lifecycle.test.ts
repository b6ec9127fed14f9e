import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, afterEach, beforeEach, describe, expect, it } from 'vitest'
import { SimDriver } from '../../node/drivers/sim.ts'
import { LiveComponent } from '../../node/engine/component.ts'
import type { ComponentInit } from '../../node/engine/component.ts'
import { createEngine } from '../../node/engine/index.ts'
import type { EngineOptions, PoolEngine } from '../../node/engine/index.ts'
import { SF_CLASS } from '../../node/sf/component-classes.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'
import { ManualClock } from '../seams/manual-clock.ts'
import { shellOf } from '../../node/components/bash-shell.ts'
import { bashShell, compound, domain, fileStorage, filesUnder, lazy, storage, tempDir, waitFor, removeTempDirs } from './fixtures.ts'
import type { StorageCall } from './fixtures.ts'

// The lifecycle on one host with the sim driver on a manual clock and a file-backed storage stand-in: order of
// deploy/start/terminate, termination records, sfSyncTerminate, liveness, failures that leave nothing behind.

let dir: string
let clock: ManualClock
let driver: SimDriver
let calls: StorageCall[]
let trace: string[]
let engine: PoolEngine

/** A Prim that writes its lifecycle into `trace` and can be told to fail its pings. */
class Traced extends LiveComponent {
  protected override async onDeploy (): Promise<void> { trace.push(`deploy ${this.path}`) }
  protected override async onStart (): Promise<void> {
    trace.push(`start ${this.path}`)
    if (this.attrs.failStart === true) throw new Error('refuses to start')
  }
  protected override async onTerminate (): Promise<void> { trace.push(`terminate ${this.path}`) }
  protected override async onPing (): Promise<void> { if (this.attrs.hung === true) throw new Error('no answer') }
}

function make (extra: Partial<EngineOptions> = {}): PoolEngine {
  return createEngine({
    host: 'h1',
    stateDir: join(dir, 'state'),
    driver,
    clock,
    storage: fileStorage(calls),
    components: { Traced: (i: ComponentInit) => new Traced(i) },
    ...extra
  })
}

beforeEach(async () => {
  dir = await tempDir('lifecycle')
  clock = new ManualClock()
  driver = new SimDriver({ clock })
  calls = []
  trace = []
  engine = make()
  await engine.start()
})

afterEach(async () => { await engine.stop() })

const traced = (attrs: SfJsonObject = {}): SfJsonObject => ({ sfClass: 'Traced', ...attrs })

function vmPool (domainAttrs: SfJsonObject = {}, rootAttrs: SfJsonObject = {}): SfJsonObject {
  return compound({
    sfSyncTerminate: true,
    ...rootAttrs,
    myShell: bashShell(),
    loop: storage('Loopback', { domainName: 'dom1' }),
    domain1: domain({ ip: '192.0.2.10', hostname: 'dom1', storageBackend: lazy('ATTRIB loop'), domainLivenessDelay: 100, domainLivenessFactor: 3, ...domainAttrs })
  })
}

describe('Compound lifecycle', () => {
  it('deploys all children, then starts them in order, and terminates them in reverse order', async () => {
    const st = await engine.deploy('p', compound({ a: traced(), b: compound({ c: traced() }), d: traced(), data: { $data: true, x: 1 } }))
    expect(st.state).toBe('running')
    expect(st.components.map(c => `${c.path}=${c.state}`)).toEqual(['=running', 'a=running', 'b=running', 'b:c=running', 'd=running'])
    expect(trace).toEqual(['deploy a', 'deploy b:c', 'deploy d', 'start a', 'start b:c', 'start d'])
    trace.length = 0
    const end = await engine.terminate('p', 'normal')
    expect(trace).toEqual(['terminate d', 'terminate b:c', 'terminate a'])
    expect(end.state).toBe('terminated')
    expect(end.components.every(c => c.state === 'terminated')).toBe(true)
    expect(() => engine.status('p')).toThrow(/no such pool/)
    expect(await readdir(join(dir, 'state', 'pools'))).toEqual([])
  })

  it('fails the deploy on an unknown sfClass, naming its path, and terminates what was deployed', async () => {
    const err = await engine.deploy('p', compound({ a: traced(), b: compound({ c: { sfClass: 'com.example.Nope' } }) })).catch(e => e)
    expect(err.name).toBe('EngineError')
    expect(err.path).toBe('b:c')
    expect(err.message).toMatch(/unknown sfClass "com.example.Nope"/)
    expect(trace).toEqual(['deploy a', 'terminate a'])
    expect(engine.status()).toEqual([])
  })

  it('a child failing to start takes the deploy down in reverse order', async () => {
    const err = await engine.deploy('p', compound({ a: traced(), b: traced({ failStart: true }), c: traced() })).catch(e => e)
    expect(err.path).toBe('b')
    expect(trace).toEqual(['deploy a', 'deploy b', 'deploy c', 'start a', 'start b', 'terminate c', 'terminate b', 'terminate a'])
  })

  it('Parallel deploys and starts its children concurrently', async () => {
    let running = 0
    let peak = 0
    class Slow extends LiveComponent {
      protected override async onStart (): Promise<void> {
        running++; peak = Math.max(peak, running)
        await new Promise(resolve => setTimeout(resolve, 20))
        running--
      }
    }
    engine = make({ components: { Slow: (i: ComponentInit) => new Slow(i) } })
    await engine.deploy('p', { sfClass: SF_CLASS.Parallel, a: { sfClass: 'Slow' }, b: { sfClass: 'Slow' }, c: { sfClass: 'Slow' } })
    expect(peak).toBe(3)
  })
})

describe('liveness and termination records', () => {
  it('a parent marks a child failed after sfLivenessFactor missed checks (sfLivenessDelay in seconds)', async () => {
    await engine.deploy('p', compound({ sfLivenessDelay: 1, sfLivenessFactor: 3, ok: traced(), stuck: traced({ hung: true }) }))
    await clock.advance(2_000)
    expect(engine.status('p')[0].components.find(c => c.path === 'stuck')?.state).toBe('running')
    await clock.advance(1_000)
    const st = engine.status('p')[0]
    const stuck = st.components.find(c => c.path === 'stuck')
    expect(stuck?.state).toBe('failed')
    expect(stuck?.reason).toMatch(/liveness: 3 missed checks/)
    // Without sfSyncTerminate the compound records it and goes on.
    expect(st.state).toBe('running')
    expect(st.components.find(c => c.path === 'ok')?.state).toBe('running')
  })

  it('a crashed domain is seen within delay x factor and, under sfSyncTerminate, takes the compound down ABNORMAL naming it', async () => {
    await engine.deploy('p', vmPool({ simCrashAfterMs: 1_000 }))
    expect(await driver.list()).toEqual(['dom1'])
    await clock.advance(1_000)
    const crashedAt = clock.now()
    // Seen: the domain component leaves `running` (its teardown then takes real I/O time, off the manual clock).
    const domState = (): string | undefined => engine.status('p')[0].components.find(c => c.path === 'domain1')?.state
    while (domState() === 'running' && clock.now() - crashedAt <= 400) await clock.advance(10)
    expect(domState()).not.toBe('running')
    expect(clock.now() - crashedAt).toBeLessThanOrEqual(100 * 3)
    await waitFor(async () => engine.status('p')[0].state === 'failed' && calls.length === 2 && (await readdir(join(dir, 'state', 'pools'))).length === 0)
    const st = engine.status('p')[0]
    expect(st.state).toBe('failed')
    expect(st.termination).toMatchObject({ type: 'abnormal', path: 'domain1' })
    expect(st.termination?.reason).toMatch(/dom1 crashed/)
    expect(st.components.find(c => c.path === 'domain1')?.state).toBe('failed')
    expect(st.components.find(c => c.path === 'loop')?.state).toBe('terminated')
    expect(calls.map(c => c.op)).toEqual(['prepare', 'teardown'])
    expect(await filesUnder(join(dir, 'state', 'storage'))).toEqual([])
    expect(await driver.list()).toEqual([])
    expect(await readdir(join(dir, 'state', 'pools'))).toEqual([])
  })

  it('without sfSyncTerminate a crashed domain is recorded and the pool goes on', async () => {
    await engine.deploy('p', vmPool({ simCrashAfterMs: 500 }, { sfSyncTerminate: false }))
    await clock.advance(900)
    await waitFor(() => engine.status('p')[0].components.find(c => c.path === 'domain1')?.state === 'failed')
    const st = engine.status('p')[0]
    expect(st.state).toBe('running')
    expect(st.components.find(c => c.path === 'domain1')).toMatchObject({ state: 'failed' })
    expect(st.components.find(c => c.path === 'loop')?.state).toBe('running')
    await engine.terminate('p', 'normal')
    expect(await filesUnder(join(dir, 'state', 'storage'))).toEqual([])
  })

  it('a domain that fails to start leaves no storage behind', async () => {
    const err = await engine.deploy('p', vmPool({ simStartFail: 'no such kernel' })).catch(e => e)
    expect(err.name).toBe('EngineError')
    expect(err.path).toBe('domain1')
    expect(err.message).toMatch(/no such kernel/)
    expect(calls.map(c => `${c.op} keep=${c.options?.keepVolumes ?? '-'}`)).toEqual(['prepare keep=-', 'teardown keep=false'])
    expect(await filesUnder(join(dir, 'state', 'storage'))).toEqual([])
    expect(await driver.list()).toEqual([])
    expect(engine.status()).toEqual([])
  })

  it('a failed deploy nobody waits on (keepFailed) stays in status with its reason until removed, without resources', async () => {
    const err = await engine.deploy('p', vmPool({ simStartFail: 'no such kernel' }), { keepFailed: true }).catch(e => e)
    expect(err.message).toMatch(/no such kernel/)
    const [st] = engine.status()
    expect(st).toMatchObject({ pool: 'p', state: 'failed', termination: { type: 'abnormal', path: 'domain1' } })
    expect(st!.termination!.reason).toMatch(/no such kernel/)
    expect(st!.components.find(c => c.path === 'domain1')).toMatchObject({ state: 'failed' })
    expect(st!.components.every(c => c.state === 'failed' || c.state === 'terminated')).toBe(true)
    // Nothing on the host: storage, domains and the state file are gone.
    expect(await filesUnder(join(dir, 'state', 'storage'))).toEqual([])
    expect(await driver.list()).toEqual([])
    expect(await readdir(join(dir, 'state', 'pools'))).toEqual([])
    expect(() => engine.set('p', 'domain1', 'memory', 64)).toThrow(/failed/)
    // The operator removes it with terminate, which answers its final status.
    expect((await engine.terminate('p', 'normal')).state).toBe('failed')
    expect(engine.status()).toEqual([])
  })

  it('a kept failed pool is forgotten after the retention time, and a deploy of the same name replaces it', async () => {
    engine = make({ finishedRetentionMs: 60_000 })
    await engine.start()
    // A root that cannot even be made: no component at all, the pool still shows failed with the reason.
    await engine.deploy('p', { sfClass: 'com.example.Nope' }, { keepFailed: true }).catch(() => {})
    expect(engine.status('p')[0]).toMatchObject({ state: 'failed', components: [] })
    expect(engine.status('p')[0]!.termination!.reason).toMatch(/unknown sfClass/)
    await clock.advance(59_000)
    expect(engine.status().map(p => p.pool)).toEqual(['p'])
    await clock.advance(2_000)
    expect(engine.status()).toEqual([])

    await engine.deploy('q', vmPool({ simStartFail: 'nope' }), { keepFailed: true }).catch(() => {})
    expect(engine.status('q')[0]!.state).toBe('failed')
    const again = await engine.deploy('q', vmPool())
    expect(again.state).toBe('running')
    // The first pool's retention timer must not forget the second one.
    await clock.advance(61_000)
    expect(engine.status('q')[0]!.state).toBe('running')
    await engine.terminate('q', 'normal')
  })
})

describe('runtime attributes and LAZY references', () => {
  it('resolves LAZY references against the live tree', async () => {
    await engine.deploy('p', compound({
      port: 8080,
      myShell: bashShell(),
      inner: compound({
        leaf: traced({
          viaAttrib: lazy('ATTRIB port'),
          viaParent: lazy('PARENT:PARENT:port'),
          viaRoot: lazy('ROOT:inner:leaf:own'),
          chained: lazy('viaAttrib'),
          shell: lazy('ATTRIB myShell'),
          missing: { $ref: 'LAZY OPTIONAL(7) ATTRIB nothing' },
          own: 'x'
        })
      })
    }))
    expect(engine.get('p', 'inner:leaf', 'viaAttrib')).toBe(8080)
    expect(engine.get('p', 'inner:leaf', 'viaParent')).toBe(8080)
    expect(engine.get('p', 'inner:leaf', 'viaRoot')).toBe('x')
    expect(engine.get('p', 'inner:leaf', 'chained')).toBe(8080)
    expect(engine.get('p', 'inner:leaf', 'shell')).toEqual({ $component: 'myShell' })
    expect(engine.get('p', 'inner:leaf', 'missing')).toBe(7)
    engine.set('p', '', 'port', 9090)
    expect(engine.get('p', 'inner:leaf', 'viaAttrib')).toBe(9090)
  })

  it('`set saveImage true` on a running pool makes its termination save the image', async () => {
    await engine.deploy('p', vmPool({}, { sfSyncTerminate: true }))
    const saved = join(dir, 'saved')
    engine.set('p', 'loop', 'saveImage', true)
    engine.set('p', 'loop', 'saveImagePath', saved)
    engine.set('p', 'loop', 'saveImageExtension', 'tar')
    expect(engine.get('p', 'loop', 'saveImage')).toBe(true)
    await engine.terminate('p', 'normal')
    expect(calls.at(-1)?.options).toEqual({ keepVolumes: false, saveImageTo: join(saved, 'dom1.tar') })
    expect(await filesUnder(saved)).toEqual(['dom1.tar'])
    expect(await filesUnder(join(dir, 'state', 'storage'))).toEqual([])
  })

  it('`set keepVolumes true` keeps the volumes', async () => {
    await engine.deploy('p', vmPool())
    engine.set('p', 'loop', 'keepVolumes', true)
    await engine.terminate('p', 'normal')
    expect(await filesUnder(join(dir, 'state', 'storage'))).toEqual(['p/loop/dom1-disk.img'])
  })

  it('`set saveImage true` on the running VM (not its backend) makes its termination save the image', async () => {
    await engine.deploy('p', vmPool())
    const saved = join(dir, 'saved-vm')
    engine.set('p', 'domain1', 'saveImage', true)
    engine.set('p', 'domain1', 'saveImagePath', saved)
    engine.set('p', 'domain1', 'saveImageName', 'golden')
    engine.set('p', 'domain1', 'saveImageExtension', 'tar')
    expect(engine.get('p', 'domain1', 'saveImage')).toBe(true)
    // The backend's own attributes did not change: the domain's apply to it at teardown.
    expect(() => engine.get('p', 'loop', 'saveImage')).toThrow(/no attribute saveImage/)
    await engine.terminate('p', 'normal')
    expect(calls.at(-1)).toMatchObject({ op: 'teardown', options: { keepVolumes: false, saveImageTo: join(saved, 'golden.tar') } })
    expect(await filesUnder(saved)).toEqual(['golden.tar'])
    expect(await filesUnder(join(dir, 'state', 'storage'))).toEqual([])
  })

  it('termination attributes of the VM win over its backend\'s, and the backend\'s apply where the VM has none', async () => {
    const saved = join(dir, 'saved-both')
    await engine.deploy('p', compound({
      myShell: bashShell(),
      loop: storage('Loopback', { domainName: 'dom1', saveImage: true, saveImagePath: saved, saveImageExtension: 'tar', keepVolumes: true }),
      domain1: domain({ ip: '192.0.2.10', hostname: 'dom1', storageBackend: lazy('ATTRIB loop'), domainLivenessCheck: false })
    }))
    engine.set('p', 'domain1', 'keepVolumes', false)
    engine.set('p', 'domain1', 'saveImageName', 'fromvm')
    await engine.terminate('p', 'normal')
    expect(calls.at(-1)?.options).toEqual({ keepVolumes: false, saveImageTo: join(saved, 'fromvm.tar') })
    expect(await filesUnder(join(dir, 'state', 'storage'))).toEqual([])
  })

  it('`set keepVolumes true` on the VM keeps its volumes; unsafe values set on the VM are refused', async () => {
    await engine.deploy('p', vmPool())
    expect(() => engine.set('p', 'domain1', 'saveImage', 'yes')).toThrow(/saveImage/)
    engine.set('p', 'domain1', 'saveImage', true)
    expect(() => engine.set('p', 'domain1', 'saveImageName', '../../etc/passwd')).toThrow(/saveImageName/)
    expect(() => engine.set('p', 'domain1', 'saveImagePath', 'relative/dir')).toThrow(/saveImagePath/)
    expect(engine.get('p', 'domain1')).not.toHaveProperty('saveImageName')
    engine.set('p', 'domain1', 'saveImage', false)
    engine.set('p', 'domain1', 'keepVolumes', true)
    await engine.terminate('p', 'normal')
    expect(calls.at(-1)?.options).toEqual({ keepVolumes: true })
    expect(await filesUnder(join(dir, 'state', 'storage'))).toEqual(['p/loop/dom1-disk.img'])
  })

  it('saveImage set on the VM survives a daemon restart and still saves the image at termination', async () => {
    await engine.deploy('p', vmPool())
    const saved = join(dir, 'saved-restart')
    engine.set('p', 'domain1', 'saveImage', true)
    engine.set('p', 'domain1', 'saveImagePath', saved)
    await engine.stop()
    // The next daemon on the same state dir (and the same hypervisor): it learns the override from the state file.
    engine = make()
    await engine.recover()
    expect(engine.status('p')[0]!.state).toBe('running')
    expect(engine.get('p', 'domain1', 'saveImage')).toBe(true)
    await engine.terminate('p', 'normal')
    expect(calls.at(-1)?.options).toEqual({ keepVolumes: false, saveImageTo: join(saved, 'dom1.tar.gz') })
    expect(await filesUnder(saved)).toEqual(['dom1.tar.gz'])
  })

  it('`set saveImage true` on a VM without storage is refused', async () => {
    await engine.deploy('p', compound({ vm: domain({ ip: '192.0.2.10', hostname: 'dom1', domainLivenessCheck: false }) }))
    expect(() => engine.set('p', 'vm', 'saveImage', true)).toThrow(/no storageBackend/)
    expect(engine.get('p', 'vm')).not.toHaveProperty('saveImage')
  })

  it('refuses values of the wrong type and unsafe termination paths, keeping the old value', async () => {
    await engine.deploy('p', vmPool())
    expect(() => engine.set('p', 'domain1', 'memory', 'lots')).toThrow(/memory/)
    expect(() => engine.set('p', 'loop', 'saveImage', 'yes')).toThrow(/saveImage/)
    engine.set('p', 'loop', 'saveImage', true)
    expect(() => engine.set('p', 'loop', 'saveImageName', '../../etc/passwd')).toThrow(/saveImageName/)
    expect(() => engine.set('p', 'loop', 'saveImagePath', 'relative/dir')).toThrow(/saveImagePath/)
    expect(engine.get('p', 'loop')).not.toHaveProperty('saveImageName')
    expect(() => engine.set('p', 'nope', 'x', 1)).toThrow(/no such component/)
  })

  it('logs carry the commands a component ran through its shell', async () => {
    const lines: Array<{ pool?: string, path?: string, host: string }> = []
    engine = make({ log: e => lines.push(e) })
    await engine.deploy('p', vmPool({}, { sfSyncTerminate: true }))
    engine.set('p', 'loop', 'saveImage', true)
    engine.set('p', 'loop', 'saveImagePath', join(dir, 'saved'))
    await engine.terminate('p', 'normal')
    expect(lines.length).toBeGreaterThan(0)
    expect(lines.every(l => l.host === 'h1' && l.pool === 'p' && typeof l.path === 'string')).toBe(true)
    const tarLines = lines.filter(l => /^\$ tar /.test((l as { msg?: string }).msg ?? ''))
    expect(tarLines.map(l => l.path).sort()).toEqual(['loop', 'myShell'])
    // Routine transcript lines go to the daemon's log at debug (a 200-VM pool would write hundreds at info); the
    // component's own log (`sdpeer logs`) keeps them at info.
    expect(tarLines.every(l => (l as { level?: string }).level === 'debug')).toBe(true)
    expect(lines.some(l => /^= exit 0 /.test((l as { msg?: string }).msg ?? '') && (l as { level?: string }).level === 'debug')).toBe(true)
    expect(lines.some(l => /^domain dom1 started/.test((l as { msg?: string }).msg ?? '') && (l as { level?: string }).level === 'info')).toBe(true)
  })

  it('a failing command stays at info (or above) in the daemon\'s log, with its standard error', async () => {
    const lines: Array<{ level: string, msg: string }> = []
    class Runner extends LiveComponent {
      protected override async onStart (): Promise<void> {
        await expect(shellOf(this).run({ file: 'sh', args: ['-c', 'echo oops >&2; exit 3'] })).rejects.toThrow(/exit code 3/)
      }
    }
    engine = make({ log: e => lines.push(e), components: { Runner: (i: ComponentInit) => new Runner(i) } })
    await engine.deploy('p', compound({ myShell: bashShell(), r: { sfClass: 'Runner', shell: lazy('ATTRIB myShell') } }))
    expect(lines.find(l => l.msg === '! oops')?.level).toBe('info')
    expect(lines.find(l => /^= exit 3/.test(l.msg))?.level).toBe('info')
    expect(lines.find(l => /^\$ sh -c/.test(l.msg))?.level).toBe('debug')
    expect(engine.logs('p', 'myShell')).toEqual(expect.arrayContaining(['info: ! oops', expect.stringMatching(/^info: = exit 3/)]))
    await engine.terminate('p', 'normal')
  })
})

describe('hostile attribute values', () => {
  const hostile = ['x; rm -rf /', '$(touch /tmp/pwned)', 'a\nb', '../../etc']
  for (const value of hostile) {
    it(`refuses domainName ${JSON.stringify(value)} at deploy, before any command runs`, async () => {
      const seen: string[][] = []
      engine = make({ shell: () => ({ run: async cmd => { seen.push([cmd.file, ...cmd.args]); return { exitCode: 0, stdout: '', stderr: '', durationMs: 0 } } }) })
      const err = await engine.deploy('p', vmPool({ domainName: value })).catch(e => e)
      expect(err.name).toBe('EngineError')
      expect(err.path).toBe('domain1')
      expect(seen).toEqual([])
      expect(calls).toEqual([])
      expect(await driver.list()).toEqual([])
    })
  }

  it('refuses bad addresses (999.999.999.999) and host names at deploy', async () => {
    await expect(engine.deploy('p', vmPool({ ip: '999.999.999.999' }))).rejects.toThrow(/ip.*not an IPv4/)
    await expect(engine.deploy('p', vmPool({ netmask: '255.0.255.0' }))).rejects.toThrow(/not a netmask/)
    await expect(engine.deploy('p', vmPool({ hostname: '$(reboot)' }))).rejects.toThrow(/host name/)
    await expect(engine.deploy('p', vmPool({ kernel: '/boot/x\nroot=/dev/evil' }))).rejects.toThrow(/control characters/)
    await expect(engine.deploy('p', vmPool({ memory: 'lots' }))).rejects.toThrow(/memory.*not a positive size/)
    await expect(engine.deploy('../p', vmPool())).rejects.toThrow(/invalid pool name/)
    expect(calls).toEqual([])
  })
})

describe('engine API edges', () => {
  it('an aborted deploy rolls back and rejects', async () => {
    const ac = new AbortController()
    const deploying = engine.deploy('p', vmPool({ simBootMs: 5_000 }), { signal: ac.signal })
    await waitFor(async () => (await driver.list()).length === 1)
    ac.abort(new Error('operator gave up'))
    await clock.advance(5_000)
    const err = await deploying.catch(e => e)
    expect(err.name).toBe('EngineError')
    expect(err.message).toMatch(/deploy aborted: operator gave up/)
    await waitFor(async () => (await driver.list()).length === 0)
    expect(await filesUnder(join(dir, 'state', 'storage'))).toEqual([])
    expect(engine.status()).toEqual([])
  })

  it('stop() leaves pools running but stops every liveness timer; events report state changes', async () => {
    const events: string[] = []
    const off = engine.onEvent(e => { if (e.kind === 'state') events.push(`${e.path}:${e.state}`) })
    await engine.deploy('p', vmPool({}, { sfLivenessDelay: 1 }))
    off()
    expect(events).toContain('domain1:running')
    expect(events.at(-1)).toBe(':running')
    expect(clock.pendingCount).toBeGreaterThan(0)
    // The durable record holds every component with its state and the domain's driver handle.
    const rec = JSON.parse(await readFile(join(dir, 'state', 'pools', 'p.json'), 'utf8'))
    expect(rec).toMatchObject({ version: 1, pool: 'p', host: 'h1', state: 'running' })
    expect(Object.keys(rec.components)).toEqual(['', 'myShell', 'loop', 'domain1'])
    expect(rec.components.domain1).toMatchObject({ type: 'XenDomain', state: 'running', saved: { domainName: 'dom1', handle: { driver: 'sim', name: 'dom1' } } })
    expect(rec.components.loop.saved.prepared.disks[0].role).toBe('root')
    expect(rec.config).toEqual(vmPool({}, { sfLivenessDelay: 1 }))
    await engine.stop()
    expect(clock.pendingCount).toBe(0)
    expect(engine.status('p')[0].state).toBe('running')
    expect(await driver.list()).toEqual(['dom1'])
  })

  it('builds the domain spec from the attributes: memory as a size, vcpus, sim knobs, name from the backend', async () => {
    await engine.deploy('p', vmPool({ memory: '1G', vcpus: 2, simShutdownMs: 10 }))
    const fp = await driver.fingerprint()
    expect(fp.details.freeMemoryMiB).toBe(String(65536 - 1024))
    expect(fp.details.freeVcpus).toBe(String(64 - 2))
    expect(await driver.list()).toEqual(['dom1'])
    expect(engine.get('p', 'domain1')).toMatchObject({ memory: '1G', storageBackend: { $component: 'loop' }, shell: { $component: 'myShell' } })
  })

  it('a LAZY link that leads nowhere, or to the wrong kind of component, fails the deploy naming the component', async () => {
    const noShell = await engine.deploy('p', compound({ myShell: traced(), loop: storage('Loopback', { domainName: 'd' }) })).catch(e => e)
    expect(noShell.path).toBe('loop')
    expect(noShell.message).toMatch(/myShell, a Traced, not a BashShell/)
    const dangling = await engine.deploy('p', compound({ myShell: bashShell(), d: domain({ ip: '192.0.2.9', storageBackend: lazy('ATTRIB nowhere') }) })).catch(e => e)
    expect(dangling.path).toBe('d')
    expect(dangling.message).toMatch(/no attribute nowhere/)
    expect(engine.status()).toEqual([])
  })

  it('refuses a second pool of the same name while the first lives', async () => {
    await engine.deploy('p', compound({ a: traced() }))
    await expect(engine.deploy('p', compound({ a: traced() }))).rejects.toThrow(/already deployed/)
  })
})

afterAll(removeTempDirs)
