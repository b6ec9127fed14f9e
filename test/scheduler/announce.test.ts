import { describe, expect, it } from 'vitest'
import { AnnouncePolicy } from '../../node/scheduler/announce.ts'
import { SimClock } from '../../simulations/scheduler/sim-clock.ts'

describe('announce policy', () => {
  it('announces every period, and early (rate-limited) when the load moved by the fraction', async () => {
    const clock = new SimClock()
    let used = { memoryMiB: 0, vcpus: 0 }
    const sent: number[] = []
    const p = new AnnouncePolicy({ clock, capacity: { memoryMiB: 1000, vcpus: 10 }, periodMs: 1000, minIntervalMs: 200, changeFraction: 0.1, announce: () => { sent.push(clock.now()); return used } })
    p.start(0)
    await clock.run({ until: 50 })
    expect(sent).toEqual([0])
    used = { memoryMiB: 50, vcpus: 0 }; p.changed(used) // 5%: waits for the period
    clock.setTimeout(() => { used = { memoryMiB: 150, vcpus: 0 }; p.changed(used) }, 50) // 15% at 100 ms, but 200 ms not yet passed
    clock.setTimeout(() => { used = { memoryMiB: 150, vcpus: 2 }; p.changed(used) }, 450) // at 500 ms: vcpus moved 20%
    await clock.run({ until: 1100 })
    p.stop()
    expect(sent).toEqual([0, 200, 500, 1000])
  })
})
