import type { SfJson } from '../../sf/sfjson.ts'
import { DiagnosticBag, formatDiagnostic } from '../../sf/diagnostics.ts'
import { parseValue } from '../../sf/parser.ts'
import { buildValue } from '../../sf/resolve/build.ts'
import { CD } from '../../sf/resolve/model.ts'
import { valueToJson } from '../../sf/to-json.ts'

// Attribute values as the console shows and takes them: .sf syntax, the same form as `sdpeer get` / `sdpeer set`.

export class ConsoleValueError extends Error {
  override readonly name = 'ConsoleValueError'
  readonly attr: string
  constructor (attr: string, message: string) {
    super(`${attr}: not a .sf value: ${message}`)
    this.attr = attr
  }
}

/** `42`, `"text"`, `[| 1, 2 |]`, `LAZY x` -> the JSON form the engine's `set` takes (and checks against the schema). */
export function parseSfText (attr: string, text: string): SfJson {
  if (text.length > 65536) throw new ConsoleValueError(attr, 'longer than 64 KiB')
  let v
  try {
    v = parseValue(text)
  } catch (err) {
    throw new ConsoleValueError(attr, (err as Error).message)
  }
  const bag = new DiagnosticBag()
  const built = buildValue(v, new CD(null, v.pos), bag)
  if (bag.hasErrors) throw new ConsoleValueError(attr, bag.items.map(formatDiagnostic).join('; '))
  return valueToJson(built)
}

export function sfText (v: SfJson, indent = ''): string {
  if (v === null) return 'NULL'
  if (typeof v === 'string') return JSON.stringify(v)
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  if (Array.isArray(v)) return `[| ${v.map(x => sfText(x, indent)).join(', ')} |]`
  if (typeof v.$ref === 'string') return v.$ref
  if (typeof v.$bytes === 'string') return v.$bytes
  const inner = indent + '  '
  const lines = Object.entries(v).filter(([k]) => !k.startsWith('$')).map(([k, x]) => `${inner}${k} ${sfText(x, inner)};`)
  const prefix = v.$data === true ? 'extends DATA ' : ''
  return lines.length === 0 ? `${prefix}{}` : `${prefix}{\n${lines.join('\n')}\n${indent}}`
}
