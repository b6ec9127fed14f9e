import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { createDriver, parseCapacity, SimDriver } from '../../node/drivers/index.ts'
import type { DomainHandle, DomainSpec } from '../../node/drivers/types.ts'
import { CoalescingWriter, readJson, writeJsonAtomic } from '../../node/drivers/sim/state-file.ts'
import { ManualClock, settle } from '../seams/manual-clock.ts'
import { driverCompliance } from './compliance.ts'

const spec = (name: string, options: DomainSpec['options'] = {}, memoryMiB = 512, vcpus = 1): DomainSpec =>
  ({ name, memoryMiB, vcpus, disks: [], options })

driverCompliance('sim', stateDir => createDriver('sim', { stateDir }), (name, variant) => spec(name, {
  simBootMs: 20,
  simShutdownMs: 20,
  ...(variant === 'ignores-shutdown' ? { simIgnoreShutdown: true } : {}),
  ...(variant === 'fails-start' ? { simStartFail: 'injected failure' } : {})
}), { shutdownTimeoutMs: 300 })

describe('parseCapacity', () => {
  it('reads the --capacity form', () => {
    expect(parseCapacity('memory=4096,vcpus=8')).toEqual({ memoryMiB: 4096, vcpus: 8 })
    expect(parseCapacity(' vcpus=2 , memory=16G ')).toEqual({ memoryMiB: 16384, vcpus: 2 })
  })
  it.each(['', 'memory=4096', 'vcpus=2', 'memory=0,vcpus=2', 'memory=-1,vcpus=2', 'memory=1,vcpus=2,disk=3',
    'memory=1,memory=2,vcpus=1', 'memory=1X,vcpus=1', 'memory=1,vcpus=2G', 'memory=1.5,vcpus=1'])('refuses %j', input => {
    expect(() => parseCapacity(input)).toThrow(expect.objectContaining({ name: 'CapacityParseError' }))
  })
})

describe('sim driver on a manual clock', () => {
  let clock: ManualClock
  let sim: SimDriver
  beforeEach(() => {
    clock = new ManualClock()
    sim = new SimDriver({ clock, capacity: { memoryMiB: 1024, vcpus: 4 } })
  })

  it('is starting during simBootMs and running after', async () => {
    let handle: DomainHandle | undefined
    const p = sim.start(spec('vm1', { simBootMs: 1000 })).then(h => { handle = h })
    await clock.advance(999)
    expect(handle).toBeUndefined()
    expect(await sim.list()).toEqual(['vm1'])
    await clock.advance(1)
    await p
    expect((await sim.status(handle!)).state).toBe('running')
  })

  it('refuses what exceeds free capacity, counting domains still booting', async () => {
    const a = sim.start(spec('a', { simBootMs: 100 }, 768, 1))
    await settle()
    await expect(sim.start(spec('b', {}, 512, 1))).rejects.toMatchObject({ name: 'DriverError', message: expect.stringMatching(/insufficient capacity/) })
    await expect(sim.start(spec('c', {}, 128, 4))).rejects.toMatchObject({ name: 'DriverError' })
    const ok = await sim.start(spec('d', {}, 256, 3))
    await clock.advance(100)
    const ha = await a
    await sim.destroy(ha)
    expect((await sim.start(spec('b', {}, 512, 1))).name).toBe('b')
    await sim.destroy(ok)
  })

  it('crashes simCrashAfterMs after running, with a reason, and keeps holding resources until destroyed', async () => {
    const h = await sim.start(spec('vm', { simCrashAfterMs: 5000 }, 1024, 1))
    await clock.advance(4999)
    expect((await sim.status(h)).state).toBe('running')
    await clock.advance(1)
    const st = await sim.status(h)
    expect(st.state).toBe('crashed')
    expect(st.reason).toMatch(/simCrashAfterMs 5000/)
    await expect(sim.start(spec('other', {}, 1, 1))).rejects.toMatchObject({ name: 'DriverError' })
    await sim.shutdown(h, 10_000)
    expect(await sim.list()).toEqual([])
  })

  it('graceful shutdown takes simShutdownMs and shows shutting-down meanwhile; a second call joins the first', async () => {
    const h = await sim.start(spec('vm', { simShutdownMs: 2000 }))
    let done = 0
    const p1 = sim.shutdown(h, 10_000).then(() => { done++ })
    const p2 = sim.shutdown(h, 10_000).then(() => { done++ })
    await clock.advance(1999)
    expect((await sim.status(h)).state).toBe('shutting-down')
    expect(done).toBe(0)
    await clock.advance(1)
    await Promise.all([p1, p2])
    expect((await sim.status(h)).state).toBe('missing')
  })

  it('a shutdown slower than the timeout, or ignored, ends by destroy at the timeout', async () => {
    const slow = await sim.start(spec('slow', { simShutdownMs: 60_000 }))
    const deaf = await sim.start(spec('deaf', { simIgnoreShutdown: true }))
    let finished = 0
    const all = Promise.all([sim.shutdown(slow, 3000), sim.shutdown(deaf, 3000)]).then(() => { finished = clock.now() })
    const t0 = clock.now()
    await clock.advance(3000)
    await all
    expect(finished - t0).toBe(3000)
    expect(await sim.list()).toEqual([])
  })

  it('simStartFail fails after the boot time and frees name and capacity', async () => {
    const p = sim.start(spec('vm', { simBootMs: 50, simStartFail: 'no bootable disk' }, 1024, 4))
    const err = p.catch((e: unknown) => e)
    await clock.advance(50)
    expect(await err).toMatchObject({ name: 'DriverError', domain: 'vm', message: expect.stringMatching(/no bootable disk/) })
    expect(await sim.list()).toEqual([])
    await sim.start(spec('vm', {}, 1024, 4))
  })

  it('abort during boot leaves nothing behind; a stale handle touches nothing', async () => {
    const ac = new AbortController()
    const aborted = sim.start(spec('a', { simBootMs: 100 }), { signal: ac.signal }).catch((e: unknown) => e)
    const other = sim.start(spec('b', { simBootMs: 100 }))
    await settle()
    expect(await sim.list()).toEqual(['a', 'b'])
    ac.abort()
    expect(await aborted).toMatchObject({ name: 'DriverError', message: expect.stringMatching(/aborted/) })
    await sim.destroy({ driver: 'sim', name: 'b', data: { id: 'stale id' } })
    expect(await sim.list()).toEqual(['b'])
    await clock.advance(100)
    expect((await sim.status(await other)).state).toBe('running')
  })

  it('refuses bad knobs, names and handles with DriverError', async () => {
    await expect(sim.start(spec('vm', { simBootMs: 'soon' }))).rejects.toMatchObject({ name: 'DriverError', message: expect.stringMatching(/simBootMs/) })
    await expect(sim.start(spec('vm', { simIgnoreShutdown: 'maybe' }))).rejects.toMatchObject({ name: 'DriverError' })
    await expect(sim.start(spec('x; rm -rf /'))).rejects.toMatchObject({ name: 'DriverError' })
    await expect(sim.start(spec('../etc'))).rejects.toMatchObject({ name: 'DriverError' })
    await expect(sim.status({ driver: 'qemu', name: 'vm', data: {} })).rejects.toMatchObject({ name: 'DriverError' })
    expect(await sim.list()).toEqual([])
  })
})

describe('sim driver state file', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'sdpeer-sim-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('a process killed with SIGKILL leaves running domains that a new process recovers', async () => {
    const stateFile = join(dir, 'sim.json')
    const handleFile = join(dir, 'handles.json')
    const script = `
      import { writeFileSync } from 'node:fs'
      import { SimDriver } from ${JSON.stringify(new URL('../../node/drivers/sim.ts', import.meta.url).href)}
      const sim = new SimDriver({ stateFile: ${JSON.stringify(stateFile)}, capacity: { memoryMiB: 2048, vcpus: 4 } })
      const handles = []
      for (const name of ['web', 'db']) handles.push(await sim.start({ name, memoryMiB: 1024, vcpus: 2, disks: [], options: { simBootMs: 10 } }))
      writeFileSync(${JSON.stringify(handleFile)}, JSON.stringify(handles))
      setInterval(() => {}, 1000)
    `
    const child = execa(process.execPath, ['--input-type=module', '-e', script], { reject: false })
    for (let i = 0; i < 200; i++) {
      const text = await readFile(handleFile, 'utf8').catch(() => '')
      if (text !== '') break
      await new Promise(resolve => setTimeout(resolve, 50))
    }
    child.kill('SIGKILL')
    const result = await child
    expect(result.signal).toBe('SIGKILL')
    const handles = JSON.parse(await readFile(handleFile, 'utf8')) as DomainHandle[]
    const sim = new SimDriver({ stateFile, capacity: { memoryMiB: 2048, vcpus: 4 } })
    expect(await sim.list()).toEqual(['db', 'web'])
    for (const h of handles) expect((await sim.recover(h)).state).toBe('running')
    // Their resources are still taken: nothing is started twice over them.
    await expect(sim.start(spec('more', {}, 1, 1))).rejects.toMatchObject({ name: 'DriverError' })
    await sim.shutdown(handles[0], 1000)
    const again = new SimDriver({ stateFile })
    expect(await again.list()).toEqual(['db'])
    expect((await again.recover(handles[0])).state).toBe('missing')
  })

  it('keeps the crash time across processes, and refuses a corrupt table', async () => {
    const stateFile = join(dir, 'sim.json')
    const clock = new ManualClock()
    const a = new SimDriver({ stateFile, clock })
    const h = await a.start(spec('vm', { simCrashAfterMs: 100 }))
    const b = new SimDriver({ stateFile, clock })
    expect((await b.recover(h)).state).toBe('running')
    await clock.advance(100)
    expect((await b.recover(h)).state).toBe('crashed')
    await writeFile(stateFile, '{"version":1,"domains":[{"name":"../x"}]}')
    await expect(new SimDriver({ stateFile }).list()).rejects.toMatchObject({ name: 'DriverError', message: expect.stringMatching(/malformed/) })
  })

  it('coalesces the writes of many concurrent starts and loses none', async () => {
    const stateFile = join(dir, 'sim.json')
    const sim = new SimDriver({ stateFile, capacity: { memoryMiB: 1000, vcpus: 1000 } })
    const names = Array.from({ length: 100 }, (_, i) => `vm${String(i).padStart(3, '0')}`)
    const t0 = performance.now()
    await Promise.all(names.map(n => sim.start(spec(n, {}, 1, 1))))
    const ms = performance.now() - t0
    const file = JSON.parse(await readFile(stateFile, 'utf8')) as { domains: Array<{ name: string }> }
    expect(file.domains.map(d => d.name).sort()).toEqual(names)
    console.log(`sim: 100 concurrent starts with a state file took ${ms.toFixed(1)} ms`)
  })

  it('createDriver refuses an unknown driver', () => {
    expect(() => createDriver('vmware')).toThrow(expect.objectContaining({ name: 'DriverError' }))
  })
})

describe('createDriver', () => {
  it('builds the registered drivers by name, with their options', async () => {
    const sim = createDriver('sim', { capacity: { memoryMiB: 300, vcpus: 3 }, settings: { simBootMs: 0 } })
    expect((await sim.fingerprint()).capacity).toEqual({ memoryMiB: 300, vcpus: 3 })
    expect(createDriver('qemu', { stateDir: tmpdir() }).name).toBe('qemu')
    expect(createDriver('xen', { stateDir: tmpdir() }).name).toBe('xen')
    // A bad daemon setting is refused when the driver is made, not at the first deploy.
    expect(() => createDriver('sim', { settings: { simBootMs: 'x' } })).toThrow(expect.objectContaining({ name: 'DriverError', message: expect.stringMatching(/simBootMs/) }))
  })
})

describe('crash-safe JSON state file', () => {
  let dir: string
  beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'sdpeer-statefile-')) })
  afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

  it('replaces the file whole and leaves no temp file', async () => {
    const path = join(dir, 'table.json')
    expect(await readJson(path)).toBeUndefined()
    await writeJsonAtomic(path, { a: 1 })
    await writeJsonAtomic(path, { a: 2, b: 'x' })
    expect(await readJson(path)).toEqual({ a: 2, b: 'x' })
    expect(await readdir(dir)).toEqual(['table.json'])
  })

  it('a write into a missing directory fails and leaves the old file alone', async () => {
    await expect(writeJsonAtomic(join(dir, 'no', 'such.json'), {})).rejects.toMatchObject({ code: 'ENOENT' })
    await expect(readJson(join(dir, 'bad.json'))).resolves.toBeUndefined()
  })

  it('coalesces flushes: many callers share few writes, and the last state always lands', async () => {
    const path = join(dir, 'table.json')
    let state = 0
    let writes = 0
    const w = new CoalescingWriter(async () => { writes++; await writeJsonAtomic(path, { state }) })
    const flushes: Array<Promise<void>> = []
    for (let i = 1; i <= 50; i++) { state = i; flushes.push(w.flush()) }
    await Promise.all(flushes)
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ state: 50 })
    expect(writes).toBeLessThanOrEqual(2)
    state = 51
    await w.flush()
    expect(JSON.parse(await readFile(path, 'utf8'))).toEqual({ state: 51 })
    expect(writes).toBeLessThanOrEqual(3)
  })

  it('a failed write rejects its callers and does not block later flushes', async () => {
    let fail = true
    const w = new CoalescingWriter(async () => { if (fail) throw new Error('disk full') })
    await expect(w.flush()).rejects.toThrow('disk full')
    fail = false
    await expect(w.flush()).resolves.toBeUndefined()
  })
})
