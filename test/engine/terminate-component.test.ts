import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeEach, describe, expect, it } from 'vitest'
import { SimDriver } from '../../node/drivers/sim.ts'
import { LiveComponent } from '../../node/engine/component.ts'
import type { ComponentInit } from '../../node/engine/component.ts'
import { createEngine } from '../../node/engine/index.ts'
import type { PoolEngine } from '../../node/engine/index.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'
import { ManualClock } from '../seams/manual-clock.ts'
import { compound, fileStorage, removeTempDirs, tempDir } from './fixtures.ts'

// Terminating ONE component (the console's and `sdpeer terminate POOL:PATH`'s terminate): the component and its
// children end, its parent's sfSyncTerminate decides whether the parent ends with it, the rest runs on.

let dir: string
let trace: string[]
let engine: PoolEngine

class Traced extends LiveComponent {
  protected override async onTerminate (): Promise<void> { trace.push(`terminate ${this.path}`) }
}

const traced = (): SfJsonObject => ({ sfClass: 'Traced' })
const states = (pool: string): string[] => engine.status(pool)[0]!.components.map(c => `${c.path}=${c.state}`)

beforeEach(async () => {
  dir = await tempDir('terminate-component')
  trace = []
  const clock = new ManualClock()
  engine = createEngine({
    host: 'h1',
    stateDir: join(dir, 'state'),
    driver: new SimDriver({ clock }),
    clock,
    storage: fileStorage([]),
    components: { Traced: (i: ComponentInit) => new Traced(i) }
  })
  await engine.start()
})

describe('Engine.terminateComponent', () => {
  it('under a parent without sfSyncTerminate, ends the component and its children only, and records it', async () => {
    await engine.deploy('p', compound({ a: traced(), b: compound({ sfSyncTerminate: false, c: traced(), d: compound({ e: traced() }) }) }))
    const st = await engine.terminateComponent!('p', 'b:d', 'abnormal', 'operator says so')
    expect(trace).toEqual(['terminate b:d:e'])
    expect(st.state).toBe('running')
    expect(states('p')).toEqual(['=running', 'a=running', 'b=running', 'b:c=running', 'b:d=failed', 'b:d:e=terminated'])
    expect(st.components.find(c => c.path === 'b:d')?.reason).toBe('operator says so')
    // The state file says the same, so a restarted daemon does not bring the component back.
    const saved = JSON.parse(await readFile(join(dir, 'state', 'pools', 'p.json'), 'utf8')) as { state: string, components: Record<string, { state: string }> }
    expect(saved.state).toBe('running')
    expect(saved.components['b:d']?.state).toBe('failed')
    expect(saved.components['b:d:e']?.state).toBe('terminated')
    expect(saved.components['b:c']?.state).toBe('running')
    // Once down, terminating it again changes nothing; the pool still terminates whole.
    await engine.terminateComponent!('p', 'b:d', 'normal')
    expect(trace).toEqual(['terminate b:d:e'])
    await engine.terminate('p', 'normal')
    expect(trace).toEqual(['terminate b:d:e', 'terminate b:c', 'terminate a'])
  })

  it('a NORMAL terminate leaves the component terminated, not failed', async () => {
    await engine.deploy('p', compound({ a: traced(), b: traced() }))
    await engine.terminateComponent!('p', 'b', 'normal')
    expect(states('p')).toEqual(['=running', 'a=running', 'b=terminated'])
  })

  it('under sfSyncTerminate true, the parent terminates with it, and so on up while parents share its fate', async () => {
    await engine.deploy('p', compound({ a: traced(), b: compound({ sfSyncTerminate: true, c: traced(), d: traced() }) }))
    const st = await engine.terminateComponent!('p', 'b:d', 'normal', 'done with d')
    expect(trace).toEqual(['terminate b:d', 'terminate b:c'])
    expect(st.state).toBe('running')
    expect(states('p')).toEqual(['=running', 'a=running', 'b=terminated', 'b:c=terminated', 'b:d=terminated'])

    await engine.deploy('q', compound({ sfSyncTerminate: true, a: traced(), b: compound({ sfSyncTerminate: true, c: traced() }) }))
    trace.length = 0
    const whole = await engine.terminateComponent!('q', 'b:c', 'abnormal', 'c broke')
    expect(trace).toEqual(['terminate b:c', 'terminate a'])
    expect(whole.state).toBe('failed')
    expect(whole.termination).toMatchObject({ type: 'abnormal', reason: 'c broke', path: 'b:c' })
  })

  it('path "" terminates the whole pool; an unknown path is an EngineError naming it, and nothing ends', async () => {
    await engine.deploy('p', compound({ a: traced() }))
    const err = await engine.terminateComponent!('p', 'nope:x', 'normal').catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'EngineError', pool: 'p', path: 'nope:x' })
    expect((err as Error).message).toMatch(/p:nope:x: no such component/)
    expect(states('p')).toEqual(['=running', 'a=running'])
    const st = await engine.terminateComponent!('p', '', 'normal')
    expect(st.state).toBe('terminated')
    expect(engine.status()).toEqual([])
  })
})

afterAll(removeTempDirs)
