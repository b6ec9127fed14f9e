import type { Pos, Reference, RefPart } from '../ast.ts'
import { CD } from './model.ts'
import type { RValue, Scalar } from './model.ts'
import { constantValue } from './constants.ts'

// Walking a reference `a:b:c` from the component that holds it (sf-language.md §9). The phases differ only in what
// "the value of an attribute" means while walking (type phase: as written; link phase: with chains resolved), so
// that is a hook; the part semantics live here once.

export type Found = { ok: true, value: RValue } | Failure
export interface Failure {
  ok: false
  /** 'lazy': the walk reached a LAZY value, so the referring link turns LAZY; 'cycle'/'tbd'/'missing'/'type'. */
  why: 'missing' | 'lazy' | 'cycle' | 'tbd' | 'type' | 'runtime'
  message: string
  /** Where the real error lies when it is not the reference being resolved (a TBD, a cycle further on). */
  pos?: Pos
  /** A diagnostic code more precise than the one `why` implies (schema and function errors). */
  code?: string
  /** Already turned into a diagnostic: the links that depend on it stay quiet. */
  reported?: boolean
}

export interface RefHooks {
  /** Makes a component ready to be walked into (type phase: type-resolve it first). */
  enter (cd: CD): void
  /** The value of attribute `i` of `cd` as this phase sees it: link resolution chases chains and evaluates APPLYs. */
  attr (cd: CD, i: number): Found
  /** Environment for PROPERTY/ENVPROPERTY (`-D name=value` first). */
  property (name: string, env: boolean): string | undefined
  /** Parses the text of IPROPERTY / IENVPROPERTY as an SF value. */
  parseValue (text: string, pos: Pos): RValue
}

export function fail (why: Failure['why'], message: string, pos?: Pos): Failure {
  return pos === undefined ? { ok: false, why, message } : { ok: false, why, message, pos }
}

function stringValue (value: string, pos: Pos): Scalar { return { type: 'string', value, pos } }

/** Finds `name` in `cd` only; `hideLocal` for non-first parts (sfLocal attributes are invisible there). */
function here (cd: CD, name: string, hideLocal: boolean): number {
  const i = cd.indexOf(name)
  if (i < 0) return -1
  if (hideLocal && cd.hasTag(i, 'sfLocal')) return -1
  return i
}

export function walkRef (ref: Reference, from: CD, hooks: RefHooks): Found {
  const parts = ref.parts
  let cur: RValue = from
  for (let k = 0; k < parts.length; k++) {
    const part: RefPart = parts[k]!
    const first = k === 0
    switch (part.kind) {
      case 'ROOT': cur = (cur instanceof CD ? cur : from).root(); continue
      case 'THIS': continue
      case 'PARENT': {
        if (!(cur instanceof CD)) return fail('type', `PARENT of a value that is not a component in ${ref.text}`)
        if (cur.parent === null) return fail('missing', `PARENT of the root in ${ref.text}`)
        cur = cur.parent
        continue
      }
      case 'PROCESS':
      case 'HOST':
        return fail('runtime', `${part.kind} is only known at run time: write LAZY ${ref.text}`)
      case 'PROPERTY': case 'ENVPROPERTY': case 'IPROPERTY': case 'IENVPROPERTY': {
        const env = part.kind.endsWith('ENVPROPERTY')
        const v = hooks.property(part.name, env)
        if (v === undefined) return fail('missing', `${env ? 'environment variable' : 'property'} ${JSON.stringify(part.name)} is not set (reference ${ref.text})`)
        // SmartFrog ignores the rest of the reference after a property part.
        return { ok: true, value: part.kind.startsWith('I') ? hooks.parseValue(v, ref.pos) : stringValue(v, ref.pos) }
      }
      case 'CONSTANT': {
        const v = constantValue(part.name, ref.pos)
        if (v === undefined) return fail('missing', `unknown constant ${JSON.stringify(part.name)} (sdpeer knows a fixed table of Java constants)`)
        return { ok: true, value: v }
      }
      case 'WORD': case 'ATTRIB': case 'HERE': {
        if (!(cur instanceof CD)) {
          return fail('type', `reference ${ref.text} goes through ${describe(cur)}, which is not a component`)
        }
        const attrib = part.kind === 'ATTRIB' || (first && part.kind === 'WORD')
        let c: CD | null = cur
        let i = -1
        if (attrib) {
          // ATTRIB: here, then each enclosing component up to the root.
          while (c !== null) {
            hooks.enter(c)
            i = here(c, part.name, false)
            if (i >= 0) break
            c = c.parent
          }
        } else {
          hooks.enter(c)
          i = here(c, part.name, !first)
        }
        if (c === null || i < 0) return fail('missing', `cannot find ${part.name} (reference ${ref.text})`)
        const got = hooks.attr(c, i)
        if (!got.ok) return got
        cur = got.value
        if (cur instanceof CD) hooks.enter(cur)
        continue
      }
    }
  }
  return { ok: true, value: cur }
}

export function describe (v: RValue): string {
  if (v instanceof CD) return 'a component'
  switch (v.type) {
    case 'ref': return `the reference ${v.text}`
    case 'apply': return v.assert ? 'an ASSERT' : 'an APPLY'
    case 'vector': return 'a vector'
    case 'string': return `the string ${JSON.stringify(v.value)}`
    case 'null': return 'NULL'
    case 'tbd': return 'TBD'
    case 'bytes': return 'a byte array'
    default: return `the ${javaClass(v).replace(/^java\.lang\./, '')} ${String(v.value)}`
  }
}

/** SmartFrog's Java class of a value, for schema messages and type checks. */
export function javaClass (v: RValue): string {
  if (v instanceof CD) return 'org.smartfrog.sfcore.componentdescription.ComponentDescription'
  switch (v.type) {
    case 'int': return 'java.lang.Integer'
    case 'long': return 'java.lang.Long'
    case 'float': return 'java.lang.Float'
    case 'double': return 'java.lang.Double'
    case 'string': return 'java.lang.String'
    case 'bool': return 'java.lang.Boolean'
    case 'null': return 'org.smartfrog.sfcore.common.SFNull'
    case 'tbd': return 'org.smartfrog.sfcore.languages.sf.sfreference.SFTBDReference'
    case 'bytes': return 'org.smartfrog.sfcore.common.SFByteArray'
    case 'vector': return 'java.util.Vector'
    case 'ref': return 'org.smartfrog.sfcore.languages.sf.sfreference.SFReference'
    case 'apply': return v.assert ? 'org.smartfrog.sfcore.languages.sf.sfreference.SFAssertReference' : 'org.smartfrog.sfcore.languages.sf.sfreference.SFApplyReference'
  }
}
