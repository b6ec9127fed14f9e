import type { Pos, Reference, Value } from '../ast.ts'
import type { DiagnosticBag } from '../diagnostics.ts'
import { CD, copyCD, displayName } from './model.ts'
import type { RApply, RValue } from './model.ts'
import { fail, walkRef } from './refs.ts'
import type { Failure, Found, RefHooks } from './refs.ts'
import { callBuiltin, FunctionError } from './functions.ts'
import type { Args } from './functions.ts'
import { checkAssertions, checkSchemaElement, SchemaError } from './assertions.ts'
import { where } from './extends.ts'
import type { EnvHooks } from './extends.ts'

// Link resolution (sf-language.md §9) with function and predicate evaluation, inside sfConfig only: depth-first in
// definition order, each eager reference replaced by its target (components shared, then resolved in their own
// place), chains resolved where they are defined, LAZY propagated to the referring link, cycles reported.

const FN_PREFIX = 'org.smartfrog.sfcore.languages.sf.functions.'


export interface LinkHost extends EnvHooks {
  parseReference (text: string, pos: Pos): Reference
}

export class Linker {
  readonly #diags: DiagnosticBag
  readonly #hooks: RefHooks
  readonly #host: LinkHost

  constructor (diags: DiagnosticBag, host: LinkHost) {
    this.#diags = diags
    this.#host = host
    const self = this
    this.#hooks = {
      enter () {},
      attr (cd, i) { return self.valueAt(cd, i, false) },
      property: host.property,
      parseValue: host.parseValue
    }
  }

  /** Resolves every attribute of `cd` and of its components, reporting failures. */
  resolveCD (cd: CD): void {
    if (cd.linkState !== 0) return
    cd.linkState = 1
    for (let i = 0; i < cd.size; i++) {
      const r = this.valueAt(cd, i, true)
      if (!r.ok) { this.#report(cd, i, r); continue }
      this.#descend(r.value)
    }
    cd.linkState = 2
  }

  #descend (v: RValue): void {
    if (v instanceof CD) this.resolveCD(v)
    else if (v.type === 'vector') for (const x of v.items) this.#descend(x)
  }

  #report (cd: CD, i: number, r: Failure): void {
    if (r.reported === true || r.why === 'lazy') return
    r.reported = true
    const name = displayName(cd.names[i]!)
    const at = `${where(cd)}:${name}`.replace(/^the file root:/, '')
    const code = r.why === 'cycle' ? 'SF6002' : r.why === 'tbd' ? 'SF6003' : r.why === 'runtime' ? 'SF6004' : r.why === 'type' ? 'SF6005' : 'SF6001'
    const pos = r.pos ?? cd.poss[i]!
    this.#diags.error(r.code ?? code, `${at}: ${r.message}`, pos)
  }

  /**
   * The value of attribute `i` of `cd` with its links resolved, written back in place. `top` is the walk over the
   * tree itself (LAZY values are simply kept); otherwise the caller is following a reference, which turns LAZY.
   */
  valueAt (cd: CD, i: number, top: boolean): Found {
    const v = cd.vals[i]!
    if (v instanceof CD) return { ok: true, value: v }
    switch (v.type) {
      case 'tbd': return fail('tbd', 'attribute is still TBD (to be defined)', v.pos)
      case 'ref': {
        if (v.data) return { ok: true, value: v }
        if (v.lazy) return top ? { ok: true, value: v } : fail('lazy', `reaches LAZY ${v.text}`)
        return this.#guard(cd, i, () => this.#link(cd, i, v, top))
      }
      case 'apply': {
        if (v.data) return { ok: true, value: v }
        if (v.lazy) return top ? { ok: true, value: v } : fail('lazy', 'reaches a LAZY APPLY')
        return this.#guard(cd, i, () => this.#apply(cd, i, v, top))
      }
      case 'vector': {
        for (let k = 0; k < v.items.length; k++) {
          const r = this.#item(cd, v.items[k]!)
          if (!r.ok) { if (r.why === 'lazy') continue; return r }
          v.items[k] = r.value
        }
        return { ok: true, value: v }
      }
      default: return { ok: true, value: v }
    }
  }

  // Vector items are resolved like attributes of the vector's holder; a LAZY item stays as written.
  #item (cd: CD, x: RValue): Found {
    if (x instanceof CD) return { ok: true, value: x }
    if (x.type === 'ref' && !x.data && !x.lazy) {
      const r = walkRef(x, cd, this.#hooks)
      if (r.ok) return this.#settle(r.value)
      if (r.why === 'lazy') return r
      if (x.optional !== undefined) return { ok: true, value: optionalDefault(x.optional.default, x.pos) }
      return r
    }
    if (x.type === 'vector') {
      for (let k = 0; k < x.items.length; k++) {
        const r = this.#item(cd, x.items[k]!)
        if (!r.ok) { if (r.why === 'lazy') continue; return r }
        x.items[k] = r.value
      }
    }
    return { ok: true, value: x }
  }

  // The attributes being resolved, innermost last: meeting one again is a cycle. A stack rather than a set per
  // component: it is short (the length of one chain) and costs nothing to the components never on it.
  readonly #busyCD: CD[] = []
  readonly #busyAt: number[] = []

  #guard (cd: CD, i: number, run: () => Found): Found {
    for (let k = this.#busyCD.length - 1; k >= 0; k--) {
      if (this.#busyCD[k] === cd && this.#busyAt[k] === i) {
        return fail('cycle', `failed to resolve ${displayName(cd.names[i]!)}: cyclic reference`, cd.poss[i])
      }
    }
    this.#busyCD.push(cd)
    this.#busyAt.push(i)
    try { return run() } finally { this.#busyCD.pop(); this.#busyAt.pop() }
  }

  // A reached component is shared, then resolved in its own place (sf-language.md §9, p06b).
  #settle (value: RValue): Found {
    if (value instanceof CD) {
      if (value.linkState === 1) return fail('cycle', 'the link reaches a component that contains it (cyclic reference)')
      this.resolveCD(value)
    }
    return { ok: true, value }
  }

  #link (cd: CD, i: number, ref: Reference, top: boolean): Found {
    const r = walkRef(ref, cd, this.#hooks)
    if (r.ok) {
      const s = this.#settle(r.value)
      if (!s.ok) return s
      cd.vals[i] = s.value
      return s
    }
    if (r.why === 'lazy') {
      // Lazy propagation: the referring link itself becomes LAZY (`w y` with `y LAZY x` gives `w LAZY y`).
      cd.vals[i] = { ...ref, lazy: true, text: ref.text.startsWith('LAZY ') ? ref.text : 'LAZY ' + ref.text }
      return top ? { ok: true, value: cd.vals[i]! } : r
    }
    if (ref.optional !== undefined && r.reported !== true) {
      const d = optionalDefault(ref.optional.default, ref.pos)
      cd.vals[i] = d
      return { ok: true, value: d }
    }
    if (r.reported === true) return r
    if (r.why === 'tbd' || r.why === 'cycle') {
      // Report where the link is, naming the attribute that holds the TBD / closes the cycle.
      return { ...r, pos: ref.pos, message: `failed to resolve '${ref.text}': ${r.message}` }
    }
    return { ...r, pos: ref.pos, message: `unresolved reference ${ref.text}: ${r.message}` }
  }

  #apply (cd: CD, i: number, ap: RApply, top: boolean): Found {
    const dynamic = ap.assert && (ap.phase ?? 'dynamic') === 'dynamic'
    // A dynamic assertion is kept as written for run time: check a copy.
    const body = dynamic ? copyCD(ap.body, ap.body.parent) : ap.body
    body.parent = cd
    const r = this.evaluate(body, ap)
    if (!r.ok) {
      if (r.why === 'lazy') {
        if (ap.assert && ap.phase === 'static') {
          return { ok: false, why: 'type', message: 'a static assertion depends on a LAZY value', pos: ap.pos, code: 'SF8005' }
        }
        if (ap.assert && ap.phase === 'staticLazy') { cd.vals[i] = { ...ap, temp: true }; return { ok: true, value: cd.vals[i]! } }
        cd.vals[i] = { ...ap, lazy: true }
        return top ? { ok: true, value: cd.vals[i]! } : r
      }
      return r
    }
    if (ap.assert) {
      cd.vals[i] = dynamic ? { ...ap, lazy: true } : { ...ap, temp: true }
      return { ok: true, value: cd.vals[i]! }
    }
    cd.vals[i] = r.value
    return this.#settle(r.value)
  }

  /** Evaluates an APPLY/ASSERT body whose parent is the attribute's container. */
  evaluate (body: CD, ap: RApply): Found {
    const clsV = body.get('sfFunctionClass')
    const cls = clsV !== undefined && !(clsV instanceof CD) && clsV.type === 'string' ? clsV.value : ''
    if (cls === FN_PREFIX + 'CheckSchemaElement') {
      try { return { ok: true, value: checkSchemaElement(body, this, ap.pos) } } catch (e) { return this.#fnFailure(e, ap.pos) }
    }
    const args: Args = []
    let lazy: Failure | undefined
    for (let j = 0; j < body.size; j++) {
      const name = body.names[j]!
      if (name === 'sfFunctionClass') continue
      const r = this.valueAt(body, j, false)
      if (!r.ok) {
        if (r.why === 'lazy') { lazy = r; continue }
        // Reported by the caller, against the attribute holding the APPLY/ASSERT.
        return r
      }
      this.#descend(r.value)
      args.push([name, r.value])
    }
    if (lazy !== undefined) return lazy
    try {
      if (cls === FN_PREFIX + 'CheckAssertions') return { ok: true, value: checkAssertions(args, ap.pos) }
      return {
        ok: true,
        value: callBuiltin(cls, args, {
          pos: ap.pos,
          ref: (text, lazyRef) => {
            let parsed: Reference
            try { parsed = this.#host.parseReference(text, ap.pos) } catch (e) {
              throw new FunctionError(`ref: ${JSON.stringify(text)} is not a reference (${(e as Error).message.split('\n')[0]})`)
            }
            const ref = { ...parsed, pos: ap.pos }
            if (lazyRef) return { ...ref, lazy: true, text: 'LAZY ' + ref.text }
            const got = walkRef(ref, body, this.#hooks)
            if (!got.ok) throw new FunctionError(`ref ${text}: ${got.message}`)
            return got.value
          }
        })
      }
    } catch (e) { return this.#fnFailure(e, ap.pos) }
  }

  #fnFailure (e: unknown, pos: Pos): Found {
    if (e instanceof SchemaError) return { ok: false, why: 'type', message: e.message, pos: e.pos ?? pos, code: e.code }
    if (e instanceof FunctionError) return { ok: false, why: 'type', message: e.message, pos, code: 'SF7003' }
    throw e
  }
}

export function optionalDefault (v: Value, pos: Pos): RValue {
  if (v.type === 'component' || v.type === 'apply' || v.type === 'ref') return { type: 'null', pos }
  if (v.type === 'vector') return { type: 'vector', items: v.items.map(x => optionalDefault(x, pos)), pos: v.pos }
  return v
}

