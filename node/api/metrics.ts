import type { EngineEvent, PoolEngine } from '../engine/types.ts'
import type { Clock } from '../seams/clock.ts'
import { realClock } from '../seams/clock.ts'

// Prometheus text exposition (format 0.0.4), written by hand: a handful of counters, gauges and histograms do not
// justify prom-client. One process-wide registry (`metrics`) so that the mesh, the scheduler and the console add to
// the same figures without being wired to each other; the setters below are the mesh's and scheduler's entry points.

type Labels = Record<string, string>

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/

function labelKey (labels: Labels): string {
  return Object.keys(labels).sort().map(k => `${k}=${labels[k]}`).join('\u0000')
}

function escapeLabel (v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
}

function escapeHelp (v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
}

export function formatValue (v: number): string {
  if (Number.isNaN(v)) return 'NaN'
  if (v === Infinity) return '+Inf'
  if (v === -Infinity) return '-Inf'
  return String(v)
}

function series (name: string, labels: Labels, value: number): string {
  const keys = Object.keys(labels)
  const body = keys.length === 0 ? '' : `{${keys.map(k => `${k}="${escapeLabel(labels[k]!)}"`).join(',')}}`
  return `${name}${body} ${formatValue(value)}\n`
}

abstract class Family {
  readonly name: string
  readonly help: string
  abstract readonly type: 'counter' | 'gauge' | 'histogram'
  constructor (name: string, help: string) {
    if (!NAME.test(name)) throw new TypeError(`metric name ${JSON.stringify(name)} is not valid`)
    this.name = name
    this.help = help
  }

  protected checkLabels (labels: Labels): void {
    for (const k of Object.keys(labels)) {
      if (!LABEL.test(k) || k.startsWith('__') || k === 'le') throw new TypeError(`label name ${JSON.stringify(k)} is not valid for ${this.name}`)
    }
  }

  abstract samples (): string

  render (): string {
    return `# HELP ${this.name} ${escapeHelp(this.help)}\n# TYPE ${this.name} ${this.type}\n${this.samples()}`
  }
}

class Scalar extends Family {
  readonly type: 'counter' | 'gauge'
  readonly #values = new Map<string, { labels: Labels, value: number }>()
  constructor (name: string, help: string, type: 'counter' | 'gauge') {
    super(name, help)
    this.type = type
  }

  #entry (labels: Labels): { labels: Labels, value: number } {
    const key = labelKey(labels)
    let e = this.#values.get(key)
    if (!e) {
      this.checkLabels(labels)
      e = { labels: { ...labels }, value: 0 }
      this.#values.set(key, e)
    }
    return e
  }

  inc (labels: Labels = {}, by = 1): void {
    if (!(by >= 0)) throw new RangeError(`${this.name}: a counter only goes up (by ${by})`)
    this.#entry(labels).value += by
  }

  set (labels: Labels, value: number): void {
    if (this.type === 'counter') throw new TypeError(`${this.name} is a counter`)
    this.#entry(labels).value = value
  }

  get (labels: Labels = {}): number {
    return this.#values.get(labelKey(labels))?.value ?? 0
  }

  /** Drops every series (gauges recomputed at each scrape, such as domains by state). */
  clear (): void { this.#values.clear() }

  samples (): string {
    let out = ''
    for (const { labels, value } of this.#values.values()) out += series(this.name, labels, value)
    return out
  }
}

export class Counter extends Scalar {
  constructor (name: string, help: string) { super(name, help, 'counter') }
}

export class Gauge extends Scalar {
  constructor (name: string, help: string) { super(name, help, 'gauge') }
}

export class Histogram extends Family {
  readonly type = 'histogram'
  readonly buckets: readonly number[]
  #counts: number[]
  #sum = 0
  #count = 0
  constructor (name: string, help: string, buckets: number[]) {
    super(name, help)
    const sorted = [...buckets].sort((a, b) => a - b)
    if (sorted.some((b, i) => !Number.isFinite(b) || (i > 0 && b === sorted[i - 1]))) throw new TypeError(`${name}: buckets must be finite and distinct`)
    this.buckets = sorted
    this.#counts = sorted.map(() => 0)
  }

  observe (value: number): void {
    for (let i = 0; i < this.buckets.length; i++) if (value <= this.buckets[i]!) this.#counts[i]!++
    this.#sum += value
    this.#count++
  }

  get count (): number { return this.#count }
  get sum (): number { return this.#sum }

  samples (): string {
    // #counts are already cumulative: observe() adds to every bucket whose bound is at least the value.
    let out = ''
    this.buckets.forEach((b, i) => { out += series(`${this.name}_bucket`, { le: formatValue(b) }, this.#counts[i]!) })
    out += series(`${this.name}_bucket`, { le: '+Inf' }, this.#count)
    out += series(`${this.name}_sum`, {}, this.#sum)
    out += series(`${this.name}_count`, {}, this.#count)
    return out
  }
}

const LATENCY_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600]

export type LivenessKind = 'suspect' | 'dead' | 'refuted'
export type Direction = 'in' | 'out'

export class Metrics {
  readonly pools = new Gauge('sdpeer_pools', 'Pools on this host by the state of their root component.')
  readonly domains = new Gauge('sdpeer_domains', 'Domains (XenDomain/VM components) on this host by state.')
  readonly components = new Gauge('sdpeer_components', 'Components on this host by state.')
  readonly reservations = new Gauge('sdpeer_reservations', 'Capacity reservations the scheduler holds on this host.')
  readonly deployLatency = new Histogram('sdpeer_deploy_duration_seconds', 'Time from a pool\'s deploy to its root running.', LATENCY_BUCKETS)
  readonly terminateLatency = new Histogram('sdpeer_terminate_duration_seconds', 'Time from a pool\'s termination start to its root terminated.', LATENCY_BUCKETS)
  readonly deploys = new Counter('sdpeer_deploys_total', 'Pool deploys by outcome (running, failed).')
  readonly liveness = new Counter('sdpeer_liveness_events_total', 'Membership liveness events by kind (suspect, dead, refuted).')
  readonly gossipMessages = new Counter('sdpeer_gossip_messages_total', 'Gossip messages by direction.')
  readonly gossipBytes = new Counter('sdpeer_gossip_bytes_total', 'Gossip bytes by direction.')
  readonly streams = new Counter('sdpeer_streams_total', 'Mesh streams opened, by direction.')
  readonly streamBytes = new Counter('sdpeer_stream_bytes_total', 'Mesh stream bytes by direction.')
  readonly rss = new Gauge('process_resident_memory_bytes', 'Resident memory size in bytes.')
  readonly heapUsed = new Gauge('nodejs_heap_used_bytes', 'V8 heap in use, in bytes.')
  readonly heapTotal = new Gauge('nodejs_heap_total_bytes', 'V8 heap allocated, in bytes.')
  readonly #families: Family[]

  constructor () {
    this.#families = [this.pools, this.domains, this.components, this.reservations, this.deployLatency, this.terminateLatency,
      this.deploys, this.liveness, this.gossipMessages, this.gossipBytes, this.streams, this.streamBytes, this.rss, this.heapUsed, this.heapTotal]
    // Every liveness kind and direction is present from the start: a rate() over a series that appears late misses
    // its first increase.
    for (const kind of ['suspect', 'dead', 'refuted']) this.liveness.inc({ kind }, 0)
    for (const direction of ['in', 'out']) {
      for (const c of [this.gossipMessages, this.gossipBytes, this.streams, this.streamBytes]) c.inc({ direction }, 0)
    }
    this.reservations.set({}, 0)
  }

  /** The exposition body; `engine` (when given) refreshes the state gauges first. */
  render (engine?: Pick<PoolEngine, 'status'>): string {
    if (engine) this.#refreshStates(engine)
    const mem = process.memoryUsage()
    this.rss.set({}, mem.rss)
    this.heapUsed.set({}, mem.heapUsed)
    this.heapTotal.set({}, mem.heapTotal)
    return this.#families.map(f => f.render()).join('')
  }

  #refreshStates (engine: Pick<PoolEngine, 'status'>): void {
    this.pools.clear(); this.domains.clear(); this.components.clear()
    for (const p of engine.status()) {
      this.pools.inc({ state: p.state })
      for (const c of p.components) {
        this.components.inc({ state: c.state })
        if (c.type === 'XenDomain' || c.type === 'VM') this.domains.inc({ state: c.state })
      }
    }
  }
}

/** The process-wide registry the daemon's console serves. */
export const metrics = new Metrics()

/** Called by the mesh's membership on each liveness event. */
export function recordLiveness (kind: LivenessKind, registry: Metrics = metrics): void {
  registry.liveness.inc({ kind })
}

/** Called by the mesh for each gossip message sent or received. */
export function recordGossip (direction: Direction, bytes: number, registry: Metrics = metrics): void {
  registry.gossipMessages.inc({ direction })
  registry.gossipBytes.inc({ direction }, bytes)
}

/** Called by the mesh when a stream opens (bytes 0) and as bytes flow on it. */
export function recordStream (direction: Direction, bytes: number, opened = false, registry: Metrics = metrics): void {
  if (opened) registry.streams.inc({ direction })
  if (bytes > 0) registry.streamBytes.inc({ direction }, bytes)
}

/** Set by the scheduler: reservations it holds on this host. */
export function setReservations (n: number, registry: Metrics = metrics): void {
  registry.reservations.set({}, n)
}

/**
 * Times deploys and terminations from the engine's state events (first component deploying -> root running or
 * failed; root terminating -> root terminated). Returns the unsubscribe function.
 */
export function watchEngine (engine: Pick<PoolEngine, 'onEvent'>, registry: Metrics = metrics, clock: Clock = realClock): () => void {
  const deployStart = new Map<string, number>()
  const terminateStart = new Map<string, number>()
  return engine.onEvent((e: EngineEvent) => {
    if (e.kind !== 'state') return
    const now = clock.now()
    // A pool's deploy starts with the first component deploying (the root reports last); it ends with the root.
    if ((e.state === 'deploying' || e.state === 'deployed') && !deployStart.has(e.pool) && !terminateStart.has(e.pool)) {
      deployStart.set(e.pool, now)
      return
    }
    if (e.path !== '') return
    switch (e.state) {
      case 'running': {
        const t = deployStart.get(e.pool)
        if (t !== undefined) { registry.deployLatency.observe((now - t) / 1000); registry.deploys.inc({ outcome: 'running' }) }
        deployStart.delete(e.pool)
        break
      }
      case 'terminating':
        if (!terminateStart.has(e.pool)) terminateStart.set(e.pool, now)
        break
      case 'terminated':
      case 'failed': {
        if (deployStart.delete(e.pool)) registry.deploys.inc({ outcome: 'failed' })
        const t = terminateStart.get(e.pool)
        if (t !== undefined) registry.terminateLatency.observe((now - t) / 1000)
        terminateStart.delete(e.pool)
        break
      }
    }
  })
}
