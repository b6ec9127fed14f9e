import type { Pos } from '../ast.ts'
import { CD } from './model.ts'
import type { RValue } from './model.ts'
import { javaClass } from './refs.ts'
import { show } from './functions.ts'
import type { Args } from './functions.ts'
import type { Found } from './refs.ts'

// SmartFrog's CheckAssertions and CheckSchemaElement (sf-language.md §11), with its messages kept so users of
// SmartFrog recognise them.

export class SchemaError extends Error {
  override readonly name = 'SchemaError'
  readonly code: string
  readonly pos?: Pos
  constructor (code: string, message: string, pos?: Pos) {
    super(message)
    this.code = code
    if (pos !== undefined) this.pos = pos
  }
}

/** What a schema element needs from the link resolver. */
export interface AttributeSource {
  valueAt (cd: CD, i: number, top: boolean): Found
}

function text (v: RValue | undefined): string | undefined {
  return v !== undefined && !(v instanceof CD) && v.type === 'string' ? v.value : undefined
}

// Java subclass relations that schemas rely on.
const ACCEPTS: Record<string, string[]> = {
  'java.lang.Object': [],
  'java.lang.Number': ['java.lang.Integer', 'java.lang.Long', 'java.lang.Float', 'java.lang.Double'],
  'org.smartfrog.sfcore.reference.Reference': ['org.smartfrog.sfcore.languages.sf.sfreference.SFReference'],
  'org.smartfrog.sfcore.reference.SFReference': ['org.smartfrog.sfcore.languages.sf.sfreference.SFReference']
}

function classMatches (wanted: string, found: string): boolean {
  if (wanted === 'anyClass' || wanted === 'java.lang.Object' || wanted === found) return true
  return ACCEPTS[wanted]?.includes(found) ?? false
}

export function checkSchemaElement (body: CD, src: AttributeSource, pos: Pos): RValue {
  const get = (n: string): RValue | undefined => {
    const i = body.indexOf(n)
    if (i < 0) return undefined
    const r = src.valueAt(body, i, false)
    return r.ok ? r.value : undefined
  }
  const name = text(get('name'))
  const target = body.parent?.parent ?? null
  const ok: RValue = { type: 'bool', value: true, pos }
  if (name === undefined || target === null) return ok
  const optV = get('optional')
  const optional = optV !== undefined && !(optV instanceof CD) && optV.type === 'bool' && optV.value
  const binding = text(get('binding')) ?? 'anyBinding'
  const description = text(get('description'))
  const label = description !== undefined ? `${name} (${description})` : name
  const i = target.indexOf(name)
  if (i < 0) {
    if (optional) return ok
    throw new SchemaError('SF8002', `error in schema: non-optional attribute '${label}' is missing`, target.pos)
  }
  const raw = target.vals[i]!
  const isLazy = !(raw instanceof CD) && (raw.type === 'ref' || raw.type === 'apply') && raw.lazy
  if (binding === 'lazy' && !isLazy) {
    throw new SchemaError('SF8003', `error in schema: non-reference value found for lazy attribute '${label}'`, target.poss[i])
  }
  if (binding === 'eager' && isLazy) {
    throw new SchemaError('SF8003', `error in schema: LAZY value found for eager attribute '${label}'`, target.poss[i])
  }
  const got = src.valueAt(target, i, false)
  // A LAZY value is only known at run time; a broken one is reported where it is written.
  if (!got.ok) return ok
  const classV = get('class')
  const classes = classV === undefined ? ['anyClass']
    : !(classV instanceof CD) && classV.type === 'vector' ? classV.items.map(x => text(x) ?? '') : [text(classV) ?? 'anyClass']
  const found = javaClass(got.value)
  if (classes.some(c => classMatches(c, found))) return ok
  throw new SchemaError('SF8001',
    `error in schema: wrong class found for attribute '${label}', expected: ${classes.join(', ')}, found: ${found}`, target.poss[i])
}

export function checkAssertions (args: Args, pos: Pos): RValue {
  const failed: string[] = []
  for (const [name, v] of args) {
    if (!(v instanceof CD) && v.type === 'bool' && v.value) continue
    failed.push(`${name}: evaluates to ${show(v)}`)
  }
  if (failed.length > 0) throw new SchemaError('SF8004', `assertions have failed for: [${failed.join(', ')}]`, pos)
  return { type: 'bool', value: true, pos }
}
