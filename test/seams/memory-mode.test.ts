import { describe, expect, it } from 'vitest'
import { createMemoryMode } from '../../node/seams/memory-mode.ts'

// The daemon's memory flag is turned off while bulk work holds "throughput", and back on once nothing has held it
// for the linger time (node/seams/memory-mode.ts). A manual timer stands in for setTimeout.

function harness (startedWithFlag: boolean) {
  const startFlags = startedWithFlag ? ['--optimize-for-size', '--max-opt=1', '--heap-growing-percent=5', '--expose-gc'] : ['--expose-gc']
  const flags: string[] = []
  const timers: Array<{ fn: () => void, ms: number, cleared: boolean }> = []
  const mode = createMemoryMode({
    startFlags,
    setFlags: f => { flags.push(f) },
    lingerMs: 2000,
    setTimer: (fn, ms) => { const t = { fn, ms, cleared: false }; timers.push(t); return t },
    clearTimer: t => { (t as { cleared: boolean }).cleared = true }
  })
  const fire = (): void => { for (const t of timers.splice(0)) if (!t.cleared) t.fn() }
  return { mode, flags, timers, fire }
}

describe('memory mode', () => {
  it('turns the flag off at the first hold and on again only after the last is released and the linger passed', () => {
    const { mode, flags, timers, fire } = harness(true)
    expect(mode.savingMemory).toBe(true)
    const a = mode.holdThroughput()
    const b = mode.holdThroughput()
    expect(flags).toEqual(['--no-optimize-for-size --heap-growing-percent=0'])
    a()
    a() // idempotent
    expect(mode.holds).toBe(1)
    expect(timers).toHaveLength(0)
    b()
    expect(timers.map(t => t.ms)).toEqual([2000])
    expect(mode.savingMemory).toBe(false)
    fire()
    expect(flags).toEqual(['--no-optimize-for-size --heap-growing-percent=0', '--optimize-for-size --heap-growing-percent=5'])
    expect(mode.savingMemory).toBe(true)
  })

  it('does not flip between chunks: a hold within the linger cancels the return to memory saving', () => {
    const { mode, flags, timers, fire } = harness(true)
    mode.holdThroughput()()
    const again = mode.holdThroughput()
    expect(timers[0]!.cleared).toBe(true)
    fire()
    expect(flags).toEqual(['--no-optimize-for-size --heap-growing-percent=0'])
    again()
    fire()
    expect(flags).toEqual(['--no-optimize-for-size --heap-growing-percent=0', '--optimize-for-size --heap-growing-percent=5'])
  })

  it('never touches V8 in a process started without the flag', () => {
    const { mode, flags, timers } = harness(false)
    const r = mode.holdThroughput()
    expect(mode.holds).toBe(1)
    r()
    expect(flags).toEqual([])
    expect(timers).toHaveLength(0)
    expect(mode.savingMemory).toBe(false)
  })
})
