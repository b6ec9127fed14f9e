import { describe, expect, it } from 'vitest'
import fc from 'fast-check'
import { compileQuery, globMatch, parseQuery, queryRecords } from '../../node/scheduler/query.ts'
import { QuerySyntaxError } from '../../node/scheduler/errors.ts'

const vms = [
  { name: 'a', hostname: 'worker-1', memory: 512, state: 'running', host: 'host1' },
  { name: 'b', hostname: 'worker-2', memory: 1024, state: 'running', host: 'host2' },
  { name: 'c', hostname: 'db-1', memory: 4096, state: 'failed', host: 'host2' },
  { name: 'd', hostname: 'worker-10', memory: '2048', state: 'starting', host: 'host3' }
]
const names = (q: string): string => queryRecords(q, vms).map(v => v.name).join('')

describe('attribute queries', () => {
  it.each([
    ['memory >= 1024 && hostname ~ "worker-*"', 'bd'],
    ['memory >= 1024', 'bcd'],
    ['hostname ~ "worker-?"', 'ab'],
    ['!(state == "running")', 'cd'],
    ['state == "failed" || memory < 600', 'ac'],
    ['host == "host2" && !(hostname ~ "db*")', 'b'],
    ['(memory > 1000 || hostname == "worker-1") && state != "failed"', 'abd'],
    ['missing == 1', ''],
    ['!(missing == 1)', 'abcd'],
    ['hostname', 'abcd'],
    ['hostname !~ "*-1"', 'bd'],
    ["state == 'running'", 'ab'],
    ['memory == 2048', 'd'], // "2048" read as text still compares as a number
    ['memory >= 1e3', 'bcd'],
    ['constructor == 1 || __proto__', ''] // no reach into the prototype
  ])('%s', (q, want) => { expect(names(q)).toBe(want) })

  it.each([
    ['memory >= ', 11, 'expected an attribute name'],
    ['memory = 1024', 8, 'use "=="'],
    ['a == 1 & b == 2', 8, 'use "&&"'],
    ['(a == 1', 8, 'expected ")" to close the "(" at column 1'],
    ['a == "x', 6, 'unterminated string'],
    ['a == 1 b', 8, 'expected "&&", "||" or end of query'],
    ['', 1, 'empty query'],
    ['a == 1 && @', 11, 'unexpected character']
  ])('syntax error in %j at column %d', (q, col, msg) => {
    let err: unknown
    try { parseQuery(q) } catch (e) { err = e }
    expect(err).toBeInstanceOf(QuerySyntaxError)
    expect((err as QuerySyntaxError).name).toBe('QuerySyntaxError')
    expect((err as QuerySyntaxError).column).toBe(col)
    expect((err as Error).message).toContain(msg)
  })

  it('deep nesting is refused, not a stack overflow', () => {
    expect(() => parseQuery('('.repeat(500) + 'a' + ')'.repeat(500))).toThrow(QuerySyntaxError)
    expect(() => parseQuery('!'.repeat(500) + 'a')).toThrow(QuerySyntaxError)
  })

  it('values are only compared: a query that looks like code is just a string', () => {
    const q = compileQuery('cmd == "process.exit(1)"')
    expect(q({ cmd: 'process.exit(1)' })).toBe(true)
    expect(q({ cmd: 'x' })).toBe(false)
  })
})

describe('glob', () => {
  const reference = (p: string, t: string): boolean =>
    new RegExp('^' + [...p].map(c => c === '*' ? '.*' : c === '?' ? '.' : c.replace(/[.+^${}()|[\]\\]/g, '\\$&')).join('') + '$', 's').test(t)

  it('matches like the regular expression it stands for', () => {
    fc.assert(fc.property(
      fc.stringMatching(/^[ab*?]{0,8}$/), fc.stringMatching(/^[ab]{0,10}$/),
      (p, t) => globMatch(p, t) === reference(p, t)
    ), { numRuns: 2000, seed: 42 })
  })

  it('is linear on patterns that make backtracking regexes explode', () => {
    const t0 = performance.now()
    expect(globMatch('*a*a*a*a*a*a*a*a*b', 'a'.repeat(5000))).toBe(false)
    expect(performance.now() - t0).toBeLessThan(500)
  })
})
