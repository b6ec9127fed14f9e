import { CD, displayName, isPlacement } from './resolve/model.ts'
import type { RValue } from './resolve/model.ts'
import { refText } from './to-json.ts'

// Unparse of a resolved tree in .sf syntax that our parser reads back to the same values (unlike SmartFrog's own
// unparse, which prints Floats without their `f` and so re-reads `1.5` as 1.0). `sdpeer check` prints it.

const KEYWORDS = new Set(['APPLY', 'ASSERT', 'ATTRIB', 'DATA', 'extends', 'false', 'HERE', 'HOST', 'PROPERTY', 'IPROPERTY',
  'ENVPROPERTY', 'IENVPROPERTY', 'CONSTANT', 'LAZY', 'NULL', 'OPTIONAL', 'PARENT', 'PROCESS', 'ROOT', 'TBD', 'THIS', 'true',
  'IF', 'THEN', 'ELSE', 'FI', 'SWITCH', 'ENDSWITCH', 'VAR'])
const WORD = /^[$A-Z_a-z\u00a2-\u00a5\u00aa\u00b5\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff][$A-Z_a-z\u00a2-\u00a5\u00aa\u00b5\u00ba\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff0-9._\-+@#~$%^&]*$/

export function printName (n: string): string {
  return WORD.test(n) && !KEYWORDS.has(n) ? n : quote(n)
}

export function quote (s: string): string {
  let out = '"'
  for (const ch of s) {
    const c = ch.codePointAt(0)!
    if (ch === '"') out += '\\"'
    else if (ch === '\\') out += '\\\\'
    else if (ch === '\n') out += '\\n'
    else if (ch === '\t') out += '\\t'
    else if (ch === '\r') out += '\\r'
    else if (ch === '\b') out += '\\b'
    else if (ch === '\f') out += '\\f'
    else if (c < 0x20 || c === 0x7f) out += '\\' + c.toString(8).padStart(3, '0')
    else out += ch
  }
  return out + '"'
}

function decimal (x: number): string {
  const s = String(x)
  return /[.eE]/.test(s) ? s.replace('e+', 'e') : s + '.0'
}

/** The attributes of `cd` as a .sf attribute list, one per line, indented by `indent`. */
export function printBody (cd: CD, indent = ''): string {
  let out = ''
  for (let i = 0; i < cd.size; i++) {
    const n = cd.names[i]!
    if (isPlacement(n) || cd.hasTag(i, 'sfTemp')) continue
    const v = cd.vals[i]!
    if (!(v instanceof CD) && v.type === 'apply' && v.temp === true) continue
    const tags = cd.tagsAt(i)
    const tagText = tags !== undefined && tags.length > 0 ? `[${tags.join(', ')}] ` : ''
    out += `${indent}${tagText}${printName(displayName(n))} ${printValue(v, indent)}${v instanceof CD ? '' : ';'}\n`
  }
  return out
}

/** A whole description whose sfConfig is `config`. */
export function printConfig (config: CD): string {
  return `sfConfig ${printValue(config, '')}\n`
}

export function printValue (v: RValue, indent: string): string {
  if (v instanceof CD) {
    const inner = printBody(v, indent + '  ')
    return `extends ${v.eager ? '' : 'DATA '}{${inner === '' ? '' : '\n' + inner + indent}}`
  }
  switch (v.type) {
    case 'int': return String(v.value)
    case 'long': return `${v.value}L`
    case 'float': return decimal(v.value) + 'f'
    case 'double': return decimal(v.value) + 'd'
    case 'string': return quote(v.value)
    case 'bool': return String(v.value)
    case 'null': return 'NULL'
    case 'tbd': return 'TBD'
    case 'bytes': return v.text
    case 'vector': {
      const simple = v.items.every(x => !(x instanceof CD) && x.type !== 'apply' && !(x.type === 'ref' && !x.data))
      const items = v.items.map(x => printValue(x, indent)).join(', ')
      return simple ? `[|${items}|]` : `[${items}]`
    }
    case 'ref': return refText(v.text, v.lazy, v.data)
    case 'apply': {
      const inner = printBody(v.body, indent + '  ')
      return `${v.data ? 'DATA ' : ''}${v.lazy ? 'LAZY ' : ''}${v.assert ? 'ASSERT' : 'APPLY'} {\n${inner}${indent}}`
    }
  }
}

/**
 * Writes printConfig(config) in pieces, without building the whole text: `sdpeer check` of a 10,000-VM pool
 * prints 9 MB, which as one string (and its parts) raised the peak RSS by ~60 MiB. Names are printed once each.
 */
export function writeConfig (config: CD, write: (chunk: string) => void): void {
  const w = new SfWriter(write)
  w.put('sfConfig ')
  w.cd(config, '')
  w.put('\n')
  w.flush()
}

class SfWriter {
  readonly #write: (chunk: string) => void
  #buf = ''
  readonly #names = new Map<string, string>()

  constructor (write: (chunk: string) => void) { this.#write = write }

  put (s: string): void {
    this.#buf += s
    if (this.#buf.length > 65536) this.flush()
  }

  flush (): void {
    if (this.#buf.length > 0) this.#write(this.#buf)
    this.#buf = ''
  }

  #name (n: string): string {
    let p = this.#names.get(n)
    if (p === undefined) { p = printName(displayName(n)); this.#names.set(n, p) }
    return p
  }

  /** Same text as printValue(cd, indent). */
  cd (cd: CD, indent: string): void {
    this.put(cd.eager ? 'extends {' : 'extends DATA {')
    const inner = indent + '  '
    let any = false
    for (let i = 0; i < cd.size; i++) {
      const n = cd.names[i]!
      if (isPlacement(n) || cd.hasTag(i, 'sfTemp')) continue
      const v = cd.vals[i]!
      if (!(v instanceof CD) && v.type === 'apply' && v.temp === true) continue
      if (!any) { this.put('\n'); any = true }
      const tags = cd.tagsAt(i)
      const tagText = tags !== undefined && tags.length > 0 ? `[${tags.join(', ')}] ` : ''
      this.put(inner + tagText + this.#name(n) + ' ')
      if (v instanceof CD) this.cd(v, inner)
      else this.put(printValue(v, inner) + ';')
      this.put('\n')
    }
    this.put(any ? indent + '}' : '}')
  }
}
