import type { SfJson, SfJsonObject } from './sfjson.ts'
import { CD, isPlacement } from './resolve/model.ts'
import type { RValue } from './resolve/model.ts'

// The resolved sfConfig as the JSON of sfjson.ts: what `sdpeer check --json` prints and what the engine deploys.
// Like SmartFrog's sfAsComponentDescription: sfTemp attributes and checked static assertions are dropped, and
// link-induced sharing disappears because every component is written out afresh.

export function cdToJson (cd: CD): SfJsonObject {
  const out: SfJsonObject = {}
  if (!cd.eager) out.$data = true
  for (let i = 0; i < cd.size; i++) {
    const name = cd.names[i]!
    if (isPlacement(name) || cd.hasTag(i, 'sfTemp')) continue
    const v = cd.vals[i]!
    if (!(v instanceof CD) && v.type === 'apply' && v.temp === true) continue
    out[name] = valueToJson(v)
  }
  return out
}

export function valueToJson (v: RValue): SfJson {
  if (v instanceof CD) return cdToJson(v)
  switch (v.type) {
    case 'int': case 'float': case 'double': return v.value
    case 'long': return Number(v.value)
    case 'string': case 'bool': return v.value
    case 'null': case 'tbd': return null
    case 'bytes': return { $bytes: v.text }
    case 'vector': return v.items.map(valueToJson)
    case 'ref': return { $ref: refText(v.text, v.lazy, v.data) }
    case 'apply': {
      const body = cdToJson(v.body)
      return v.assert ? { $assert: body } : { $apply: body }
    }
  }
}

/** The reference as written, with the LAZY/DATA keyword it carries now (LAZY propagation adds one). */
export function refText (text: string, lazy: boolean, data: boolean): string {
  if (lazy && !/^LAZY\b/.test(text)) return 'LAZY ' + text
  if (data && !/^DATA\b/.test(text)) return 'DATA ' + text
  return text
}

/**
 * Writes `JSON.stringify(cdToJson(cd), null, 2)` in pieces, without building the object or the whole string:
 * `sdpeer check --json` on a 10,000-VM pool would otherwise hold both at once.
 */
export function writeJson (cd: CD, write: (chunk: string) => void): void {
  let buf = ''
  const put = (s: string): void => {
    buf += s
    if (buf.length > 65536) { write(buf); buf = '' }
  }
  const value = (v: RValue, indent: string): void => {
    if (v instanceof CD) { object(v, indent); return }
    if (v.type === 'vector') {
      if (v.items.length === 0) { put('[]'); return }
      const inner = indent + '  '
      put('[')
      v.items.forEach((x, k) => { put(`${k === 0 ? '' : ','}\n${inner}`); value(x, inner) })
      put(`\n${indent}]`)
      return
    }
    if (v.type === 'apply') {
      const inner = indent + '  '
      put(`{\n${inner}${v.assert ? '"$assert"' : '"$apply"'}: `)
      object(v.body, inner)
      put(`\n${indent}}`)
      return
    }
    switch (v.type) {
      case 'string': put(JSON.stringify(v.value)); return
      case 'int': case 'float': case 'double': case 'bool': put(String(v.value)); return
      case 'null': case 'tbd': put('null'); return
      case 'ref': put(`{\n${indent}  "$ref": ${JSON.stringify(refText(v.text, v.lazy, v.data))}\n${indent}}`); return
      default: put(JSON.stringify(valueToJson(v), null, 2).replace(/\n/g, '\n' + indent))
    }
  }
  const object = (c: CD, indent: string): void => {
    const inner = indent + '  '
    let first = true
    const sep = (): void => { put(first ? `{\n${inner}` : `,\n${inner}`); first = false }
    if (!c.eager) { sep(); put('"$data": true') }
    for (let i = 0; i < c.size; i++) {
      const name = c.names[i]!
      if (isPlacement(name) || c.hasTag(i, 'sfTemp')) continue
      const v = c.vals[i]!
      if (!(v instanceof CD) && v.type === 'apply' && v.temp === true) continue
      sep()
      put(JSON.stringify(name) + ': ')
      value(v, inner)
    }
    put(first ? '{}' : `\n${indent}}`)
  }
  object(cd, '')
  put('\n')
  write(buf)
}
