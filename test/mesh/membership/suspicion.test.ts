import { describe, expect, it } from 'vitest'
import { remainingSuspicionTime, Suspicion, suspicionTimeout } from '../../../node/mesh/membership/suspicion.ts'
import { Awareness } from '../../../node/mesh/membership/awareness.ts'
import { BroadcastQueue, retransmitLimit } from '../../../node/mesh/membership/broadcast-queue.ts'
import { VirtualClock } from '../../../simulations/membership/virtual-clock.ts'

describe('remainingSuspicionTime', () => {
  // The table of memberlist's suspicion_test.go, in milliseconds: min 2 s, max 30 s, k = 3.
  const table: Array<[n: number, k: number, elapsed: number, expected: number]> = [
    [0, 3, 0, 30_000],
    [1, 3, 2_000, 14_000],
    [2, 3, 3_000, 4_810],
    [3, 3, 4_000, -2_000],
    [4, 3, 5_000, -3_000],
    [5, 3, 10_000, -8_000]
  ]
  it.each(table)('n=%i k=%i elapsed=%i -> %i', (n, k, elapsed, expected) => {
    expect(remainingSuspicionTime(n, k, elapsed, 2_000, 30_000)).toBe(expected)
  })

  it('never goes below min before elapsed time is counted', () => {
    expect(remainingSuspicionTime(10, 3, 0, 2_000, 30_000)).toBe(2_000)
  })
})

describe('suspicionTimeout', () => {
  it.each([[1, 1_500], [10, 1_500], [20, 1_951], [100, 3_000], [1_000, 4_500]])('N=%i -> %i ms', (n, ms) => {
    expect(suspicionTimeout(3, n, 500)).toBe(ms)
  })
})

describe('Suspicion', () => {
  it('fires at max without confirmations, and sooner with each independent one', () => {
    const clock = new VirtualClock()
    const fired: number[] = []
    const s = new Suspicion(clock, 'a', 3, 2_000, 30_000, () => fired.push(clock.now()))
    clock.advance(1_000)
    expect(s.confirm('a')).toBe(false) // the accuser itself is not independent
    expect(s.confirm('b')).toBe(true)
    expect(s.confirm('b')).toBe(false)
    expect(s.confirm('c')).toBe(true)
    clock.advance(100_000)
    expect(fired).toEqual([7_810]) // 2 of 3 confirmations: 30 s - log(3)/log(4) × 28 s
  })

  it('with k < 1 fires at min, and not at all once cancelled', () => {
    const clock = new VirtualClock()
    let fired = 0
    new Suspicion(clock, 'a', 0, 2_000, 30_000, () => { fired++ })
    const s2 = new Suspicion(clock, 'a', 0, 2_000, 30_000, () => { fired += 10 })
    s2.cancel()
    clock.advance(1_999)
    expect(fired).toBe(0)
    clock.advance(1)
    expect(fired).toBe(1)
  })
})

describe('Awareness', () => {
  it('stays within [0, max-1] and scales timeouts', () => {
    const a = new Awareness(8)
    a.applyDelta(-1)
    expect(a.score).toBe(0)
    expect(a.scale(500)).toBe(500)
    a.applyDelta(3)
    expect(a.scale(500)).toBe(2_000)
    a.applyDelta(100)
    expect(a.score).toBe(7)
  })
})

describe('BroadcastQueue', () => {
  it('replaces older news of a member and drops items after the retransmit limit', () => {
    const q = new BroadcastQueue()
    q.push({ status: 'alive', id: 'a', inc: 1 })
    q.push({ status: 'suspect', id: 'a', inc: 1, from: 'b' })
    q.push({ status: 'alive', id: 'c', inc: 0 })
    expect(q.size).toBe(2)
    expect(q.take(10, 2).map(u => u.status + u.id)).toEqual(['suspecta', 'alivec'])
    expect(q.take(1, 2).map(u => u.id)).toEqual(['a'])
    expect(q.size).toBe(1)
    expect(q.take(10, 2).map(u => u.id)).toEqual(['c'])
    expect(q.size).toBe(0)
  })

  it('limits grow with log10(N+1)', () => {
    expect([retransmitLimit(4, 1), retransmitLimit(4, 9), retransmitLimit(4, 10), retransmitLimit(4, 1000)]).toEqual([4, 4, 8, 16])
  })
})
