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
