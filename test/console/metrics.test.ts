import { describe, expect, it } from 'vitest'
import { Counter, Histogram, Metrics, recordGossip, recordLiveness, recordStream, setReservations, watchEngine } from '../../node/api/metrics.ts'
import type { EngineEvent, PoolStatus } from '../../node/engine/types.ts'
import type { Clock } from '../../node/seams/clock.ts'
import { ExpositionError, parseExposition, valueOf } from './prom-parser.ts'
import { parseMetrics } from './prom-reference.ts'

function manualClock (): Clock & { advance (ms: number): void } {
  let t = 1000
  return {
    now: () => t,
    setTimeout: () => ({ cancel () {} }),
    sleep: async () => {},
    advance (ms) { t += ms }
  }
}

function status (pool: string, state: PoolStatus['state'], comps: Array<[string, string, PoolStatus['state']]>): PoolStatus {
  return { pool, state, components: comps.map(([path, type, s]) => ({ path, type, host: 'h', state: s })) }
}

describe('metrics exposition', () => {
  it('renders every family so that a strict parser accepts it, with the figures set', () => {
    const m = new Metrics()
    recordLiveness('suspect', m); recordLiveness('suspect', m); recordLiveness('dead', m)
    recordGossip('in', 300, m); recordGossip('out', 120, m)
    recordStream('out', 0, true, m); recordStream('out', 4096, false, m)
    setReservations(3, m)
    m.deployLatency.observe(0.3); m.deployLatency.observe(7)
    const engine = {
      status: () => [
        status('web', 'running', [['', 'Compound', 'running'], ['a', 'XenDomain', 'running'], ['b', 'VM', 'running'], ['s', 'BashShell', 'running']]),
        status('old', 'failed', [['', 'Compound', 'failed'], ['c', 'XenDomain', 'failed']])
      ]
    }
    const f = parseMetrics(m.render(engine))
    expect(f.get('sdpeer_domains')?.type).toBe('gauge')
    expect(valueOf(f, 'sdpeer_domains', { state: 'running' })).toBe(2)
    expect(valueOf(f, 'sdpeer_domains', { state: 'failed' })).toBe(1)
    expect(valueOf(f, 'sdpeer_pools', { state: 'running' })).toBe(1)
    expect(valueOf(f, 'sdpeer_components', { state: 'running' })).toBe(4)
    expect(valueOf(f, 'sdpeer_reservations')).toBe(3)
    expect(valueOf(f, 'sdpeer_liveness_events_total', { kind: 'suspect' })).toBe(2)
    expect(valueOf(f, 'sdpeer_liveness_events_total', { kind: 'dead' })).toBe(1)
    expect(valueOf(f, 'sdpeer_liveness_events_total', { kind: 'refuted' })).toBe(0)
    expect(valueOf(f, 'sdpeer_gossip_bytes_total', { direction: 'in' })).toBe(300)
    expect(valueOf(f, 'sdpeer_gossip_messages_total', { direction: 'out' })).toBe(1)
    expect(valueOf(f, 'sdpeer_streams_total', { direction: 'out' })).toBe(1)
    expect(valueOf(f, 'sdpeer_stream_bytes_total', { direction: 'out' })).toBe(4096)
    expect(f.get('sdpeer_deploy_duration_seconds')?.type).toBe('histogram')
    expect(valueOf(f, 'sdpeer_deploy_duration_seconds_bucket', { le: '0.5' })).toBe(1)
    expect(valueOf(f, 'sdpeer_deploy_duration_seconds_bucket', { le: '10' })).toBe(2)
    expect(valueOf(f, 'sdpeer_deploy_duration_seconds_count')).toBe(2)
    expect(valueOf(f, 'sdpeer_deploy_duration_seconds_sum')).toBeCloseTo(7.3)
    expect(valueOf(f, 'process_resident_memory_bytes')).toBeGreaterThan(1_000_000)
    expect(valueOf(f, 'nodejs_heap_used_bytes')).toBeGreaterThan(0)
  })

  it('recomputes state gauges at each scrape: a pool that is gone leaves no series', () => {
    const m = new Metrics()
    let pools = [status('web', 'running', [['', 'Compound', 'running'], ['a', 'XenDomain', 'running']])]
    expect(valueOf(parseMetrics(m.render({ status: () => pools })), 'sdpeer_domains', { state: 'running' })).toBe(1)
    pools = []
    expect(valueOf(parseMetrics(m.render({ status: () => pools })), 'sdpeer_domains', { state: 'running' })).toBeUndefined()
  })

  it('escapes label values and help text', () => {
    const c = new Counter('x_total', 'a \\ help\nline')
    c.inc({ path: 'a"b\\c\nd' }, 2)
    const f = parseMetrics(c.render())
    expect(f.get('x_total')?.help).toBe('a \\ help\nline')
    expect(valueOf(f, 'x_total', { path: 'a"b\\c\nd' })).toBe(2)
  })

  it('refuses what would break the format', () => {
    expect(() => new Counter('bad-name', 'x')).toThrow(TypeError)
    expect(() => new Counter('ok', 'x').inc({ le: '1' })).toThrow(TypeError)
    expect(() => new Counter('ok', 'x').inc({}, -1)).toThrow(RangeError)
    expect(() => new Histogram('h', 'x', [1, 1])).toThrow(TypeError)
  })

  it('times deploys and terminations from engine events on the clock', () => {
    const m = new Metrics()
    const clock = manualClock()
    let listener: (e: EngineEvent) => void = () => {}
    const engine = { onEvent: (l: (e: EngineEvent) => void) => { listener = l; return () => { listener = () => {} } } }
    const emit = (path: string, state: EngineEvent['state']): void => { listener({ time: clock.now(), host: 'h', pool: 'p', path, kind: 'state', state, message: '' }) }
    const stop = watchEngine(engine, m, clock)
    emit('vm', 'deploying'); clock.advance(1500); emit('vm', 'deployed'); emit('', 'deployed'); clock.advance(500); emit('vm', 'running'); emit('', 'running')
    emit('', 'terminating'); clock.advance(250); emit('vm', 'terminated'); emit('', 'terminated')
    emit('vm', 'deploying'); clock.advance(100); emit('', 'failed')
    stop()
    emit('vm', 'deploying'); emit('', 'running')
    expect(m.deployLatency.count).toBe(1)
    expect(m.deployLatency.sum).toBeCloseTo(2.0)
    expect(m.terminateLatency.count).toBe(1)
    expect(m.terminateLatency.sum).toBeCloseTo(0.25)
    expect(m.deploys.get({ outcome: 'running' })).toBe(1)
    expect(m.deploys.get({ outcome: 'failed' })).toBe(1)
  })
})

describe('the test parser is strict', () => {
  const bad: Array<[string, string]> = [
    ['no final newline', '# TYPE a gauge\na 1'],
    ['TYPE after samples', 'a 1\n# TYPE a gauge\n'],
    ['two TYPEs', '# TYPE a gauge\n# TYPE a gauge\na 1\n'],
    ['duplicate series', '# TYPE a gauge\na{x="1"} 1\na{x="1"} 2\n'],
    ['bad escape', 'a{x="\\t"} 1\n'],
    ['unterminated label', 'a{x="1} 1\n'],
    ['not a number', 'a 1,5\n'],
    ['bad name', '0a 1\n'],
    ['negative counter', '# TYPE a_total counter\na_total -1\n'],
    ['interleaved families', 'a 1\nb 1\na{x="2"} 1\n'],
    ['non-cumulative histogram', '# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 1\n'],
    ['+Inf differs from count', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 1\nh_sum 1\nh_count 2\n'],
    ['no +Inf bucket', '# TYPE h histogram\nh_bucket{le="1"} 1\nh_sum 1\nh_count 1\n'],
    ['two spaces', 'a  1\n']
  ]
  it.each(bad)('refuses %s', (_why, body) => {
    expect(() => parseExposition(body)).toThrow(ExpositionError)
  })

  it('accepts the forms the format allows', () => {
    const f = parseExposition('# a comment\n# HELP a The A.\n# TYPE a counter\na{x="1",} 1.5e3 1700000000000\n\nb NaN\nc +Inf\n')
    expect(valueOf(f, 'a', { x: '1' })).toBe(1500)
    expect(f.get('a')?.samples[0]?.timestamp).toBe(1700000000000)
    expect(Number.isNaN(valueOf(f, 'b'))).toBe(true)
    expect(valueOf(f, 'c')).toBe(Infinity)
  })

  it('agrees with the npm package on a histogram and labelled gauges', () => {
    const body = '# TYPE a gauge\na{x="1"} 2\na{x="q\\"z"} 3\n# TYPE h histogram\nh_bucket{le="1"} 1\nh_bucket{le="+Inf"} 2\nh_sum 3.5\nh_count 2\n'
    const f = parseMetrics(body)
    expect(valueOf(f, 'h_sum')).toBe(3.5)
    expect(valueOf(f, 'a', { x: 'q"z' })).toBe(3)
  })
})
