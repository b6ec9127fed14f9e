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
 * `sdpeer check --json` on a 10,000-VM pool would otherwise hold both at once. The same few hundred attribute
 * names and indentations recur hundreds of thousands of times, so their JSON text is made once.
 */
export function writeJson (cd: CD, write: (chunk: string) => void): void {
  const w = new JsonWriter(write)
  w.object(cd, 0)
  w.put('\n')
  w.flush()
}

class JsonWriter {
  readonly #write: (chunk: string) => void
  #buf = ''
  /** `\n` followed by 2*depth spaces, per depth. */
  readonly #nl: string[] = ['\n']
  /** `"name": ` per attribute name. */
  readonly #keys = new Map<string, string>()
  /**
   * `,` newline, indentation and `"name": ` in one string, per attribute of a names array and depth: components
   * made from the same prototype share their names array (model.ts), so a pool's VMs are written with one string
   * per attribute instead of three concatenated ones (the concatenations were most of this writer's garbage).
   */
  readonly #prefixes = new WeakMap<string[], Array<Array<string | undefined>>>()

  constructor (write: (chunk: string) => void) { this.#write = write }

  put (s: string): void {
    this.#buf += s
    if (this.#buf.length > 65536) this.flush()
  }

  flush (): void {
    if (this.#buf.length > 0) this.#write(this.#buf)
    this.#buf = ''
  }

  #newline (depth: number): string {
    let s = this.#nl[depth]
    if (s === undefined) { s = '\n' + '  '.repeat(depth); this.#nl[depth] = s }
    return s
  }

  #prefix (names: string[], i: number, depth: number, inner: string): string {
    let byDepth = this.#prefixes.get(names)
    if (byDepth === undefined) { byDepth = []; this.#prefixes.set(names, byDepth) }
    let row = byDepth[depth]
    if (row === undefined) { row = new Array<string | undefined>(names.length); byDepth[depth] = row }
    let p = row[i]
    if (p === undefined) { p = ',' + inner + this.#key(names[i]!); row[i] = p }
    return p
  }

  #key (name: string): string {
    let k = this.#keys.get(name)
    if (k === undefined) { k = JSON.stringify(name) + ': '; this.#keys.set(name, k) }
    return k
  }

  value (v: RValue, depth: number): void {
    if (v instanceof CD) { this.object(v, depth); return }
    switch (v.type) {
      case 'string': this.put(JSON.stringify(v.value)); return
      case 'int': case 'float': case 'double': case 'bool': this.put(String(v.value)); return
      case 'null': case 'tbd': this.put('null'); return
      case 'ref':
        this.put('{' + this.#newline(depth + 1) + '"$ref": ' + JSON.stringify(refText(v.text, v.lazy, v.data)) + this.#newline(depth) + '}')
        return
      case 'vector': {
        if (v.items.length === 0) { this.put('[]'); return }
        const inner = this.#newline(depth + 1)
        for (let k = 0; k < v.items.length; k++) {
          this.put(k === 0 ? '[' + inner : ',' + inner)
          this.value(v.items[k]!, depth + 1)
        }
        this.put(this.#newline(depth) + ']')
        return
      }
      case 'apply':
        this.put('{' + this.#newline(depth + 1) + (v.assert ? '"$assert": ' : '"$apply": '))
        this.object(v.body, depth + 1)
        this.put(this.#newline(depth) + '}')
        return
      default:
        this.put(JSON.stringify(valueToJson(v), null, 2).replace(/\n/g, this.#newline(depth)))
    }
  }

  object (c: CD, depth: number): void {
    const inner = this.#newline(depth + 1)
    let first = true
    if (!c.eager) { this.put('{' + inner + '"$data": true'); first = false }
    const names = c.names
    const vals = c.vals
    for (let i = 0; i < names.length; i++) {
      const name = names[i]!
      if (isPlacement(name) || (c.tags !== undefined && c.hasTag(i, 'sfTemp'))) continue
      const v = vals[i]!
      if (!(v instanceof CD) && v.type === 'apply' && v.temp === true) continue
      // Long names arrays (a Compound of hosts or VMs) are one of a kind: their prefixes are not worth keeping.
      this.put(first || names.length > 32 ? (first ? '{' : ',') + inner + this.#key(name) : this.#prefix(names, i, depth, inner))
      first = false
      this.value(v, depth + 1)
    }
    this.put(first ? '{}' : this.#newline(depth) + '}')
  }
}
