import { describe, expect, it } from 'vitest'
import { boundedMemo } from '../../protocol/memo.ts'

// The bounded memo behind the parsed-key, peer-id and HRW-score caches: one computation per argument while it is
// held, everything dropped once `max` are held, and a computation that throws is not remembered.

describe('boundedMemo', () => {
  it('computes once per argument, starts over when full, and never remembers a throw', () => {
    const calls: string[] = []
    const f = boundedMemo((k: string) => { calls.push(k); if (k === 'bad') throw new Error('bad key'); return k.length }, 2)
    expect([f('a'), f('bb'), f('a'), f('bb')]).toEqual([1, 2, 1, 2])
    expect(calls).toEqual(['a', 'bb'])
    expect(f('ccc')).toBe(3) // a third key: the two held are dropped
    expect(f('a')).toBe(1)
    expect(calls).toEqual(['a', 'bb', 'ccc', 'a'])
    expect(() => f('bad')).toThrow('bad key')
    expect(() => f('bad')).toThrow('bad key')
    expect(calls.filter(k => k === 'bad')).toHaveLength(2)
  })
})
