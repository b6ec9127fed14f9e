import type { Value } from '../sf/ast.ts'
import { parseReference } from '../sf/parser.ts'
import type { SfJson } from '../sf/sfjson.ts'

// The text of a reference kept in the resolved tree (`{"$ref": "LAZY ATTRIB myShell"}`), read with the .sf parser
// and reduced to the parts the engine walks against the live component tree (sf-language.md §9). Parts that only
// mean something in SmartFrog's JVM world (PROPERTY, CONSTANT, HOST, PROCESS...) are refused with a clear message.

export type RefPart =
  | { kind: 'ATTRIB', name: string }
  | { kind: 'HERE', name: string }
  | { kind: 'PARENT' }
  | { kind: 'ROOT' }
  | { kind: 'THIS' }

export interface ParsedReference {
  lazy: boolean
  data: boolean
  optional: boolean
  /** The OPTIONAL default (null when omitted). */
  defaultValue: SfJson
  parts: RefPart[]
}

export class ReferenceSyntaxError extends Error {
  override readonly name = 'ReferenceSyntaxError'
  readonly text: string
  constructor (text: string, message: string, options?: { cause?: unknown }) {
    super(`reference ${JSON.stringify(text)}: ${message}`, options)
    this.text = text
  }
}

const cache = new Map<string, ParsedReference>()

export function parseReferenceText (text: string): ParsedReference {
  const hit = cache.get(text)
  if (hit) return hit
  let ref
  try {
    ref = parseReference(text)
  } catch (err) {
    throw new ReferenceSyntaxError(text, (err as Error).message, { cause: err })
  }
  const parts: RefPart[] = ref.parts.map((p, i) => {
    switch (p.kind) {
      case 'ROOT': case 'PARENT': case 'THIS': return { kind: p.kind }
      case 'WORD': return i === 0 ? { kind: 'ATTRIB', name: p.name } : { kind: 'HERE', name: p.name }
      case 'ATTRIB': case 'HERE': return { kind: p.kind, name: p.name }
      default: throw new ReferenceSyntaxError(text, `${p.kind} is not supported at run time by sdpeer`)
    }
  })
  const out: ParsedReference = {
    lazy: ref.lazy,
    data: ref.data,
    optional: ref.optional !== undefined,
    defaultValue: ref.optional ? literal(text, ref.optional.default) : null,
    parts
  }
  if (cache.size > 10_000) cache.clear()
  cache.set(text, out)
  return out
}

function literal (text: string, v: Value): SfJson {
  switch (v.type) {
    case 'int': case 'float': case 'double': case 'string': case 'bool': return v.value
    case 'long': return Number(v.value)
    case 'null': return null
    case 'vector': return v.items.map(i => literal(text, i))
    default: throw new ReferenceSyntaxError(text, `OPTIONAL default of type ${v.type} is not supported at run time`)
  }
}

export function formatReference (parts: RefPart[]): string {
  return parts.map(p => 'name' in p ? `${p.kind} ${p.name}` : p.kind).join(':')
}
