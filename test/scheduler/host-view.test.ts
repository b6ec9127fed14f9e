import { describe, expect, it } from 'vitest'
import { HostView } from '../../node/scheduler/host-view.ts'
import { SimClock } from '../../simulations/scheduler/sim-clock.ts'
import { host } from './helpers.ts'

describe('host view', () => {
  it('newest version wins, in whatever order gossip delivers', () => {
    const v = new HostView({ clock: new SimClock() })
    expect(v.merge(host('a', { version: 3, freeMiB: 1000 }))).toBe(true)
    expect(v.merge(host('a', { version: 2, freeMiB: 4000 }))).toBe(false)
    expect(v.merge(host('a', { version: 3, freeMiB: 4000 }))).toBe(false)
    expect(v.get('a')?.used.memoryMiB).toBe(3096)
    expect(v.merge(host('a', { version: 4, freeMiB: 2000 }))).toBe(true)
    expect(v.get('a')?.used.memoryMiB).toBe(2096)
  })

  it('a host silent for longer than maxAge is stale; a heartbeat of the same version freshens it', async () => {
    const clock = new SimClock()
    const v = new HostView({ clock, maxAgeMs: 1000 })
    v.merge(host('a', { version: 1 })); v.merge(host('b', { version: 1 }))
    expect(v.liveStates().map(h => h.host)).toEqual(['a', 'b'])
    await clock.run({ until: 800 })
    v.merge(host('b', { version: 1 }))
    await clock.run({ until: 1500 })
    expect(v.isStale('a')).toBe(true)
    expect(v.liveStates().map(h => h.host)).toEqual(['b'])
  })

  it('dead hosts are left out until they are declared alive again', () => {
    const v = new HostView({ clock: new SimClock() })
    v.merge(host('a')); v.merge(host('b'))
    v.setLive('a', false)
    expect(v.liveStates().map(h => h.host)).toEqual(['b'])
    v.setLive('a', true)
    expect(v.liveStates().map(h => h.host)).toEqual(['a', 'b'])
  })

  it('a reserve answer updates the figures at once and makes older gossip lose', () => {
    const v = new HostView({ clock: new SimClock() })
    v.merge(host('a', { version: 5 }))
    const live = v.liveStates()
    v.noteFree('a', { memoryMiB: 1024, vcpus: 4 }, 9)
    expect(v.liveStates()[0].used).toEqual({ memoryMiB: 3072, vcpus: 4 })
    expect(live[0].used.memoryMiB).toBe(3072) // the cached list is patched in place
    expect(v.merge(host('a', { version: 8 }))).toBe(false)
    v.noteReserved('a', { memoryMiB: 512, vcpus: 1 })
    expect(v.get('a')?.used).toEqual({ memoryMiB: 3584, vcpus: 5 })
    expect(v.merge(host('a', { version: 10, freeMiB: 4096 }))).toBe(true)
    expect(v.get('a')?.used.memoryMiB).toBe(0)
  })
})
