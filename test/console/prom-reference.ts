import parsePrometheusTextFormat from 'parse-prometheus-text-format'
import { parseExposition } from './prom-parser.ts'
import type { Family } from './prom-parser.ts'

// /metrics read by two parsers that must agree: parse-prometheus-text-format (an npm package ported from the
// official Python client's parser, prom2json's output shape) and this suite's strict one (prom-parser.ts). The
// package is lenient (it takes `a{x="1} 1` or `a 1,5` without a word), so the strict parser refuses what Prometheus
// would; the package guards the strict one against sharing our own misreading of the format: every family and
// every value must come out the same from both.

export class ParsersDisagree extends Error {
  override readonly name = 'ParsersDisagree'
}

const num = (text: string | undefined): number => text === '+Inf' ? Infinity : text === '-Inf' ? -Infinity : Number(text)

/** One `name{labels}` → value map from the package's result, histograms spread into _bucket/_sum/_count. */
function referenceSeries (text: string): Map<string, number> {
  const out = new Map<string, number>()
  const put = (name: string, labels: Record<string, string> | undefined, value: number): void => {
    out.set(seriesKey(name, labels ?? {}), value)
  }
  for (const f of parsePrometheusTextFormat(text)) {
    for (const m of f.metrics) {
      if (f.type === 'HISTOGRAM') {
        for (const [le, v] of Object.entries(m.buckets ?? {})) put(`${f.name}_bucket`, { ...m.labels, le }, num(v))
        put(`${f.name}_sum`, m.labels, num(m.sum))
        put(`${f.name}_count`, m.labels, num(m.count))
      } else {
        put(f.name, m.labels, num(m.value))
      }
    }
  }
  return out
}

function seriesKey (name: string, labels: Record<string, string>): string {
  return name + JSON.stringify(Object.entries(labels).sort(([a], [b]) => a < b ? -1 : a > b ? 1 : 0))
}

/** Parses with both; throws ExpositionError (strict) or ParsersDisagree; returns the strict parser's families. */
export function parseMetrics (text: string): Map<string, Family> {
  const strict = parseExposition(text)
  const reference = referenceSeries(text)
  const types = new Map(parsePrometheusTextFormat(text).map(f => [f.name, f.type.toLowerCase()]))
  let count = 0
  for (const f of strict.values()) {
    if ((types.get(f.name) ?? 'untyped') !== f.type) throw new ParsersDisagree(`${f.name}: type ${f.type} here, ${types.get(f.name)} for the package`)
    for (const s of f.samples) {
      count++
      const key = seriesKey(s.name, s.labels)
      const theirs = reference.get(key)
      if (!Object.is(theirs, s.value) && !(theirs !== undefined && Math.abs(theirs - s.value) <= 1e-9 * Math.abs(s.value))) {
        throw new ParsersDisagree(`${key}: ${s.value} here, ${theirs} for the package`)
      }
    }
  }
  if (count !== reference.size) throw new ParsersDisagree(`${count} series here, ${reference.size} for the package`)
  return strict
}
