import { describe, expect, it } from 'vitest'
import { trimHeapWhenQuiet } from '../../cli/heap-trim.ts'

// The trimmer's decisions (quiet means under 30% busy here: a vitest worker is never fully idle), with a counting stand-in for gc (vitest's workers run without --expose-gc); the real
// memory-reducing GC is exercised by the daemon test beside this one and measured by simulations/bench/mesh-daemons.ts.

const spin = (ms: number): void => { const end = performance.now() + ms; while (performance.now() < end) { /* busy */ } }
const idle = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

function counting (): { calls: NodeJS.GCOptions[], gc: NodeJS.GCFunction } {
  const calls: NodeJS.GCOptions[] = []
  const gc = ((o?: boolean | NodeJS.GCOptions) => { calls.push(typeof o === 'object' ? o : {}) }) as NodeJS.GCFunction
  return { calls, gc }
}

describe('trimHeapWhenQuiet', () => {
  it('trims the start-up heap once quiet, then only after the heap grew again', async () => {
    const { calls, gc } = counting()
    const trims: number[] = []
    const t = trimHeapWhenQuiet({ gc, intervalMs: 3_600_000, loadPerCpu: () => 0, maxUtilization: 0.3, minGrowthBytes: 2 * 1024 * 1024, onTrim: x => { trims.push(x.pauseMs) } })
    try {
      await idle(150)
      expect(t.check()).toBe(true)
      expect(calls).toEqual([{ type: 'major', execution: 'sync', flavor: 'last-resort' }])
      expect(trims).toHaveLength(1)
      await idle(150)
      expect(t.check()).toBe(false) // nothing grew
      // ~8 MiB of live objects: the committed heap grows past the threshold.
      const keep = Array.from({ length: 64 }, () => new Array(16_384).fill(0).map((_, i) => ({ i })))
      spin(150)
      expect(t.check()).toBe(false) // the allocating period was busy
      await idle(150)
      expect(t.check()).toBe(true)
      expect(calls).toHaveLength(2)
      expect(keep.length).toBe(64)
    } finally {
      t.stop()
    }
  })

  it('leaves a busy event loop alone', async () => {
    const { calls, gc } = counting()
    const t = trimHeapWhenQuiet({ gc, intervalMs: 3_600_000, loadPerCpu: () => 0, maxUtilization: 0.3 })
    try {
      spin(100) // the whole period busy: utilisation ~1
      expect(t.check()).toBe(false)
      await idle(100)
      expect(t.check()).toBe(true)
      expect(calls).toHaveLength(1)
    } finally {
      t.stop()
    }
  })

  it('leaves a machine with more than 4 runnable threads per CPU alone', async () => {
    const { calls, gc } = counting()
    let load = 5
    const t = trimHeapWhenQuiet({ gc, intervalMs: 3_600_000, loadPerCpu: () => load, maxUtilization: 0.3 })
    try {
      await idle(150)
      expect(t.check()).toBe(false)
      load = 3
      await idle(150)
      expect(t.check()).toBe(true)
      expect(calls).toHaveLength(1)
    } finally {
      t.stop()
    }
  })

  it('after a long pause, waits for a machine with at most one runnable thread per CPU', async () => {
    const calls: number[] = []
    let pauseMs = 200
    const gc = (() => { calls.push(pauseMs); spin(pauseMs) }) as NodeJS.GCFunction
    let load = 2
    const t = trimHeapWhenQuiet({ gc, intervalMs: 3_600_000, loadPerCpu: () => load, maxUtilization: 0.3, minGrowthBytes: 0 })
    try {
      await idle(150)
      expect(t.check()).toBe(true) // 200 ms: longer than the 150 ms allowed
      await idle(150)
      expect(t.check()).toBe(false) // load 2 is now too much
      load = 0.8
      pauseMs = 10
      await idle(150)
      expect(t.check()).toBe(true)
      load = 2
      await idle(150)
      expect(t.check()).toBe(true) // the last pause was short: load up to 4 per CPU again
      expect(calls).toEqual([200, 10, 10])
    } finally {
      t.stop()
    }
  })

  it('does nothing without gc (node started without --expose-gc)', async () => {
    const t = trimHeapWhenQuiet({ gc: undefined, intervalMs: 3_600_000 })
    await idle(150)
    expect(t.check()).toBe(false)
    t.stop()
  })
})
