import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { SchedulerComponent, ScheduleeComponent } from '../../node/components/scheduler.ts'
import { SimDriver } from '../../node/drivers/sim.ts'
import { createEngine } from '../../node/engine/index.ts'
import { remotePlaceholder } from '../../node/deploy/split.ts'
import { realClock } from '../../node/seams/clock.ts'
import { SF_CLASS } from '../../node/sf/component-classes.ts'
import { fileStorage, lazy, removeTempDirs, tempDir } from '../engine/fixtures.ts'

// The live Scheduler and Schedulee in a real engine: they deploy and run, and their status says where the
// scheduler put each child (or that it was not scheduled).

afterAll(removeTempDirs)

const components = {
  [SF_CLASS.Scheduler]: (i: ConstructorParameters<typeof SchedulerComponent>[0]) => new SchedulerComponent(i),
  [SF_CLASS.Schedulee]: (i: ConstructorParameters<typeof ScheduleeComponent>[0]) => new ScheduleeComponent(i)
}

describe('Scheduler and Schedulee components', () => {
  it('report the hosts the scheduler may use and where each child went', async () => {
    const dir = await tempDir('sched-comp')
    const engine = createEngine({ host: 'h1', stateDir: join(dir, 'state'), driver: new SimDriver({ clock: realClock }), storage: fileStorage(), components })
    await engine.start()
    const st = await engine.deploy('p', {
      sfClass: SF_CLASS.Compound,
      s: { sfClass: SF_CLASS.Scheduler, hosts: ['h1', 'h2'] },
      open: { sfClass: SF_CLASS.Scheduler },
      w: {
        sfClass: SF_CLASS.Schedulee,
        scheduler: lazy('ATTRIB s'),
        a: remotePlaceholder({ path: 'w:a', host: 'h2', peer: 'P2' }),
        b: { sfClass: SF_CLASS.Prim, sfProcessHost: 'h1' }
      },
      plain: { sfClass: SF_CLASS.Schedulee, scheduler: lazy('ATTRIB open'), c: { sfClass: SF_CLASS.Prim } }
    })
    const reason = (path: string): string | undefined => st.components.find(c => c.path === path)?.reason
    expect(st.state).toBe('running')
    expect(reason('s')).toBe('places Schedulee VMs on h1, h2')
    expect(reason('open')).toBe('places Schedulee VMs on any live host of the mesh')
    expect(reason('w')).toBe('scheduled: a on h2, b on h1')
    expect(reason('plain')).toBe('not scheduled (deployed without the mesh): its children run on this host')
    await engine.terminate('p', 'normal')
    await engine.stop()
  })
})
