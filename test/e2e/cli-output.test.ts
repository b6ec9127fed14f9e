import { describe, expect, it } from 'vitest'
import { sfAttributes, sfValue } from '../../cli/lib/sf-value.ts'
import { eventLine, poolJson, poolText, printable, table } from '../../cli/lib/status-format.ts'
import { splitPoolPath } from '../../cli/lib/api.ts'
import { UsageError } from '../../cli/command.ts'
import type { PoolStatus } from '../../node/engine/types.ts'

// The CLI's output contract, without a daemon: what scripts parse (--json) and what `set` takes back (.sf values).

const pool: PoolStatus = {
  pool: 'web',
  state: 'failed',
  components: [
    { path: '', type: 'Compound', host: 'machine9', state: 'failed' },
    { path: 'domain1', type: 'XenDomain', host: 'machine9', state: 'failed', reason: 'domain crashed\x1b[31m' }
  ],
  termination: { type: 'abnormal', reason: 'domain crashed', path: 'domain1' }
}

describe('CLI output', () => {
  it('status --json has exactly pool, state, components (path, type, host, state, reason?)', () => {
    const j = poolJson(pool)
    expect(Object.keys(j)).toEqual(['pool', 'state', 'components'])
    expect(Object.keys(j.components[0]!)).toEqual(['path', 'type', 'host', 'state'])
    expect(Object.keys(j.components[1]!)).toEqual(['path', 'type', 'host', 'state', 'reason'])
  })

  it('escapes control characters from descriptions and logs before they reach a terminal', () => {
    expect(printable('a\x1b[31mb\x07\tc\n')).toBe('a\\x1b[31mb\\x07\tc\n')
    expect(poolText(pool)).not.toContain('\x1b')
    expect(poolText(pool)).toContain('pool web: failed (abnormal at domain1: domain crashed)')
  })

  it('aligns table columns and does not pad the last one', () => {
    expect(table([['A', 'BB', 'C'], ['aaa', 'b', '']])).toBe('A    BB  C\naaa  b\n')
  })

  it('prints values in .sf syntax that `set` parses back', () => {
    expect(sfValue('a "q"')).toBe('"a \\"q\\""')
    expect(sfValue([1, true, null, 'x'])).toBe('[| 1, true, NULL, "x" |]')
    expect(sfValue({ $ref: 'LAZY ATTRIB myShell' })).toBe('LAZY ATTRIB myShell')
    expect(sfValue({ a: 1, b: { c: 'd' } })).toBe('{\n  a 1;\n  b {\n    c "d";\n  };\n}')
    expect(sfAttributes({ memory: 64, $data: true, kernel: '/boot/x' })).toBe('memory 64;\nkernel "/boot/x";\n')
  })

  it('splits POOL:comp:comp', () => {
    expect(splitPoolPath('web')).toEqual({ pool: 'web', path: '' })
    expect(splitPoolPath('web:computer1:domain1')).toEqual({ pool: 'web', path: 'computer1:domain1' })
    expect(() => splitPoolPath(':x')).toThrow(UsageError)
  })

  it('shows deploy progress as one line per component state', () => {
    expect(eventLine({ time: 0, host: 'h', pool: 'web', path: 'loop', kind: 'state', state: 'running', message: 'running' })).toBe('  loop                 running')
    expect(eventLine({ time: 0, host: 'h', pool: 'web', path: '', kind: 'state', state: 'failed', message: 'sim start failure' })).toBe('  (root)               failed       sim start failure')
  })
})
