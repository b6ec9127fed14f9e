import type { Attribute, Reference, RefPart, Value } from '../../../node/sf/ast.ts'
import { CD, displayName, isPlacement } from '../../../node/sf/resolve/model.ts'
import type { RValue } from '../../../node/sf/resolve/model.ts'

// Comparison of a resolved tree with a golden (HP SmartFrog's unparse of sfConfig, parsed back with our parser):
// both sides become the same canonical JSON, `unique<N>` names normalised to `unique#`, references written the
// way SmartFrog unparses them (a first ATTRIB part is a bare word, later HERE parts too).

export type Canon = null | boolean | number | string | Canon[] | { [k: string]: Canon }

const UNIQUE = /^unique[0-9#]+$/

function name (n: string): string { return UNIQUE.test(n) ? 'unique#' : n }

function partText (p: RefPart, first: boolean): string {
  switch (p.kind) {
    case 'ROOT': case 'PARENT': case 'THIS': case 'PROCESS': return p.kind
    case 'WORD': return p.name
    case 'ATTRIB': return first ? p.name : `ATTRIB ${p.name}`
    case 'HERE': return first ? `HERE ${p.name}` : p.name
    default: return `${p.kind} ${p.name}`
  }
}

function refCanon (r: Reference, lazy: boolean, data: boolean): Canon {
  const body = r.parts.map((p, i) => partText(p, i === 0)).join(':')
  return { $ref: `${lazy ? 'LAZY ' : ''}${data ? 'DATA ' : ''}${body}` }
}

function num (type: string, v: number | bigint): Canon {
  // Floats are compared at Float precision; the golden prints them in a form our parser may read back as Float.
  if (type === 'float' || type === 'double') return { [type === 'float' ? '$float' : '$double']: Math.fround(Number(v)) }
  return type === 'long' ? { $long: String(v) } : Number(v)
}

export function goldenCanon (attrs: Attribute[]): Canon {
  const out: { [k: string]: Canon } = {}
  for (const a of attrs) out[name(a.name.join(':'))] = astCanon(a.value)
  return out
}

function astCanon (v: Value): Canon {
  switch (v.type) {
    case 'component': {
      const body: { [k: string]: Canon } = v.eager ? {} : { $data: true }
      for (const p of v.prototypes) if (p.kind === 'body') Object.assign(body, goldenCanon(p.attrs))
      return body
    }
    case 'apply': return { [v.lazy ? (v.assert ? '$lazyAssert' : '$lazyApply') : (v.assert ? '$assert' : '$apply')]: goldenCanon(v.body) }
    case 'ref': return refCanon(v, v.lazy, v.data)
    case 'vector': return v.items.map(astCanon)
    case 'int': case 'long': case 'float': case 'double': return num(v.type, v.value)
    case 'string': case 'bool': return v.value
    case 'null': return null
    case 'tbd': return '$TBD'
    case 'bytes': return { $bytes: v.text.replace(/\s+/g, '').toLowerCase() }
  }
}

export function resolvedCanon (cd: CD, seen = new Set<CD>()): Canon {
  const out: { [k: string]: Canon } = cd.eager ? {} : { $data: true }
  if (seen.has(cd)) return { $cycle: true }
  seen.add(cd)
  for (let i = 0; i < cd.size; i++) {
    const n = cd.names[i]!
    if (isPlacement(n) || cd.hasTag(i, 'sfTemp')) continue
    const v = cd.vals[i]!
    if (!(v instanceof CD) && v.type === 'apply' && v.temp === true) continue
    out[name(displayName(n))] = valueCanon(v, seen)
  }
  seen.delete(cd)
  return out
}

function valueCanon (v: RValue, seen: Set<CD>): Canon {
  if (v instanceof CD) return resolvedCanon(v, seen)
  switch (v.type) {
    case 'apply': return { [v.lazy ? (v.assert ? '$lazyAssert' : '$lazyApply') : (v.assert ? '$assert' : '$apply')]: resolvedCanon(v.body, seen) }
    case 'ref': return refCanon(v, v.lazy, v.data)
    case 'vector': return v.items.map(x => valueCanon(x, seen))
    case 'int': case 'long': case 'float': case 'double': return num(v.type, v.value)
    case 'string': case 'bool': return v.value
    case 'null': return null
    case 'tbd': return '$TBD'
    case 'bytes': return { $bytes: v.text.replace(/\s+/g, '').toLowerCase() }
  }
}

/** First difference between two canonical trees, as `path: expected … found …`, or undefined when equal. */
export function firstDifference (want: Canon, got: Canon, path = ''): string | undefined {
  if (typeof want !== 'object' || want === null || typeof got !== 'object' || got === null) {
    return want === got ? undefined : `${path || '(root)'}: golden ${JSON.stringify(want)}, ours ${JSON.stringify(got)}`
  }
  if (Array.isArray(want) !== Array.isArray(got)) return `${path}: golden ${JSON.stringify(want).slice(0, 80)}, ours ${JSON.stringify(got).slice(0, 80)}`
  const wk = Object.keys(want); const gk = Object.keys(got)
  for (const k of wk) {
    if (!(k in got)) return `${path}:${k}: missing in ours`
    const d = firstDifference((want as Record<string, Canon>)[k]!, (got as Record<string, Canon>)[k]!, path === '' ? k : `${path}:${k}`)
    if (d !== undefined) return d
  }
  for (const k of gk) if (!(k in want)) return `${path}:${k}: extra in ours`
  if (!Array.isArray(want) && wk.join('\u0000') !== gk.join('\u0000')) return `${path || '(root)'}: order differs: golden ${wk.join(',')} ours ${gk.join(',')}`
  return undefined
}

