// A strict parser for the Prometheus text exposition format 0.0.4, for tests: it refuses what Prometheus would refuse
// (bad names, bad escapes, a TYPE after samples, duplicate series, interleaved families, non-cumulative histogram
// buckets, a +Inf bucket that differs from _count), so a test that parses /metrics checks the format, not a regex.

export interface Sample { name: string, labels: Record<string, string>, value: number, timestamp?: number }
export interface Family { name: string, type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped', help?: string, samples: Sample[] }

export class ExpositionError extends Error {
  override readonly name = 'ExpositionError'
  readonly line: number
  constructor (line: number, message: string) {
    super(`line ${line}: ${message}`)
    this.line = line
  }
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped'])

function parseFloatStrict (text: string, line: number): number {
  if (text === 'NaN') return NaN
  if (text === '+Inf' || text === 'Inf') return Infinity
  if (text === '-Inf') return -Infinity
  if (!/^[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(text)) throw new ExpositionError(line, `${JSON.stringify(text)} is not a number`)
  return Number(text)
}

function familyOf (sample: string, families: Map<string, Family>): string {
  for (const suffix of ['_bucket', '_sum', '_count']) {
    if (sample.endsWith(suffix)) {
      const base = sample.slice(0, -suffix.length)
      const f = families.get(base)
      if (f && (f.type === 'histogram' || (f.type === 'summary' && suffix !== '_bucket'))) return base
    }
  }
  return sample
}

/** Parses one sample line: name, optional {labels}, value, optional timestamp. */
function parseSample (text: string, line: number): Sample {
  let i = 0
  const m = /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(text)
  if (!m) throw new ExpositionError(line, 'a sample starts with a metric name')
  const name = m[0]
  i = name.length
  const labels: Record<string, string> = {}
  if (text[i] === '{') {
    i++
    for (;;) {
      if (text[i] === '}') { i++; break }
      const lm = /^[a-zA-Z_][a-zA-Z0-9_]*/.exec(text.slice(i))
      if (!lm) throw new ExpositionError(line, `bad label name at column ${i + 1}`)
      const label = lm[0]
      i += label.length
      if (Object.hasOwn(labels, label)) throw new ExpositionError(line, `label ${label} given twice`)
      if (text[i] !== '=' || text[i + 1] !== '"') throw new ExpositionError(line, `expected ="..." after label ${label}`)
      i += 2
      let value = ''
      for (;;) {
        const c = text[i]
        if (c === undefined) throw new ExpositionError(line, `unterminated value of label ${label}`)
        i++
        if (c === '"') break
        if (c === '\\') {
          const e = text[i++]
          if (e === '\\') value += '\\'
          else if (e === '"') value += '"'
          else if (e === 'n') value += '\n'
          else throw new ExpositionError(line, `bad escape \\${e ?? ''} in label ${label}`)
        } else {
          value += c
        }
      }
      labels[label] = value
      if (text[i] === ',') { i++; continue }
      if (text[i] === '}') { i++; break }
      throw new ExpositionError(line, `expected , or } after label ${label}`)
    }
  }
  if (text[i] !== ' ') throw new ExpositionError(line, 'expected a space before the value')
  const rest = text.slice(i + 1).split(' ')
  if (rest.length < 1 || rest.length > 2 || rest.some(r => r === '')) throw new ExpositionError(line, 'expected "value [timestamp]" separated by single spaces')
  const sample: Sample = { name, labels, value: parseFloatStrict(rest[0]!, line) }
  if (rest[1] !== undefined) {
    if (!/^-?[0-9]+$/.test(rest[1])) throw new ExpositionError(line, `timestamp ${rest[1]} is not an integer`)
    sample.timestamp = Number(rest[1])
  }
  return sample
}

export function parseExposition (body: string): Map<string, Family> {
  if (body !== '' && !body.endsWith('\n')) throw new ExpositionError(body.split('\n').length, 'the body must end with a newline')
  const families = new Map<string, Family>()
  const seenSeries = new Set<string>()
  const closed = new Set<string>()
  let current: string | undefined
  const lines = body.split('\n')
  lines.pop()
  const family = (name: string, line: number): Family => {
    if (current !== name) {
      if (closed.has(name)) throw new ExpositionError(line, `metric ${name} continues after another family started`)
      if (current !== undefined) closed.add(current)
      current = name
    }
    let f = families.get(name)
    if (!f) { f = { name, type: 'untyped', samples: [] }; families.set(name, f) }
    return f
  }
  lines.forEach((text, idx) => {
    const line = idx + 1
    if (text.trim() === '') return
    if (text.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(text)
      if (!m) return // other comments are allowed and ignored
      const [, kind, name, rest] = m
      if (!METRIC.test(name!)) throw new ExpositionError(line, `${JSON.stringify(name)} is not a metric name`)
      const f = family(name!, line)
      if (kind === 'TYPE') {
        if (!TYPES.has(rest ?? '')) throw new ExpositionError(line, `unknown type ${JSON.stringify(rest)}`)
        if (f.samples.length > 0) throw new ExpositionError(line, `TYPE of ${name} after its samples`)
        if (f.type !== 'untyped' || (f as { typed?: boolean }).typed) throw new ExpositionError(line, `second TYPE for ${name}`)
        f.type = rest as Family['type']
        ;(f as { typed?: boolean }).typed = true
      } else {
        if (f.help !== undefined) throw new ExpositionError(line, `second HELP for ${name}`)
        const help = rest ?? ''
        if (/\\[^\\n]|\\$/.test(help.replace(/\\\\/g, ''))) throw new ExpositionError(line, `bad escape in HELP of ${name}`)
        f.help = help.replace(/\\(\\|n)/g, (_s, c: string) => c === 'n' ? '\n' : '\\')
      }
      return
    }
    const sample = parseSample(text, line)
    const f = family(familyOf(sample.name, families), line)
    if (f.type === 'histogram' && sample.name === `${f.name}_bucket` && sample.labels.le === undefined) throw new ExpositionError(line, 'a histogram bucket needs le')
    if (f.type === 'counter' && !(sample.value >= 0)) throw new ExpositionError(line, `counter ${sample.name} is ${sample.value}`)
    if ((f.type === 'histogram' || f.type === 'summary') && sample.name === f.name) throw new ExpositionError(line, `${f.type} ${f.name} has a bare sample`)
    const key = sample.name + JSON.stringify(Object.entries(sample.labels).sort(([a], [b]) => a < b ? -1 : 1))
    if (seenSeries.has(key)) throw new ExpositionError(line, `duplicate series ${sample.name}${JSON.stringify(sample.labels)}`)
    seenSeries.add(key)
    for (const l of Object.keys(sample.labels)) if (!LABEL.test(l) || l.startsWith('__')) throw new ExpositionError(line, `bad label name ${l}`)
    f.samples.push(sample)
  })
  for (const f of families.values()) if (f.type === 'histogram') checkHistogram(f)
  return families
}

function checkHistogram (f: Family): void {
  const groups = new Map<string, Sample[]>()
  const counts = new Map<string, number>()
  for (const s of f.samples) {
    const { le: _le, ...rest } = s.labels
    const key = JSON.stringify(Object.entries(rest).sort())
    if (s.name === `${f.name}_bucket`) groups.set(key, [...(groups.get(key) ?? []), s])
    else if (s.name === `${f.name}_count`) counts.set(key, s.value)
  }
  for (const [key, buckets] of groups) {
    const bounds = buckets.map(b => parseFloatStrict(b.labels.le!, 0))
    for (let i = 1; i < buckets.length; i++) {
      if (!(bounds[i]! > bounds[i - 1]!)) throw new ExpositionError(0, `${f.name}: bucket bounds not increasing`)
      if (buckets[i]!.value < buckets[i - 1]!.value) throw new ExpositionError(0, `${f.name}: bucket counts not cumulative`)
    }
    if (bounds.at(-1) !== Infinity) throw new ExpositionError(0, `${f.name}: no +Inf bucket`)
    if (counts.get(key) !== buckets.at(-1)!.value) throw new ExpositionError(0, `${f.name}: +Inf bucket ${buckets.at(-1)!.value} differs from _count ${counts.get(key)}`)
  }
}

/** The value of one series, or undefined. */
export function valueOf (families: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined {
  for (const f of families.values()) {
    for (const s of f.samples) {
      if (s.name !== name) continue
      const keys = Object.keys(s.labels)
      if (keys.length === Object.keys(labels).length && keys.every(k => s.labels[k] === labels[k])) return s.value
    }
  }
  return undefined
}
