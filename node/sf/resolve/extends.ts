import type { Pos } from '../ast.ts'
import type { DiagnosticBag } from '../diagnostics.ts'
import { CD, copyValue, displayName, isPlacement } from './model.ts'
import type { RValue } from './model.ts'
import { fail, walkRef } from './refs.ts'
import type { Found, RefHooks } from './refs.ts'

// Type resolution (sf-language.md §7): every `extends P1, P2, {...}` is replaced by the merge of its prototypes,
// each prototype type-resolved first in its own place, then deep-copied. Runs over the whole file root.
// Cycles are found by the in-progress mark, so `a extends { b extends a }` is an error, never a stack overflow.

export interface EnvHooks {
  property (name: string, env: boolean): string | undefined
  parseValue (text: string, pos: Pos): RValue
}

export class TypeResolver {
  readonly #diags: DiagnosticBag
  readonly #hooks: RefHooks

  constructor (diags: DiagnosticBag, env: EnvHooks) {
    this.#diags = diags
    const self = this
    this.#hooks = {
      enter (cd) { if (cd.typeState === 0) self.resolve(cd) },
      attr (cd, i) { return self.#attr(cd, i) },
      property: env.property,
      parseValue: env.parseValue
    }
  }

  // A prototype reference may go through a plain link (`Foo Bar; x extends Foo`): chase it, as written.
  #attr (cd: CD, i: number): Found {
    const v = cd.vals[i]!
    if (v instanceof CD || v.type !== 'ref' || v.data || v.lazy) return { ok: true, value: v }
    cd.busy ??= new Set()
    if (cd.busy.has(i)) return fail('cycle', `cyclic reference ${v.text}`)
    cd.busy.add(i)
    try { return walkRef(v, cd, this.#hooks) } finally { cd.busy.delete(i) }
  }

  resolve (cd: CD): void {
    if (cd.typeState !== 0) return
    cd.typeState = 1
    let protos = cd.protos
    if (protos !== undefined) {
      cd.protos = undefined
      const last = protos[protos.length - 1]
      if (typeof last === 'number') {
        // Back to the form as written: the body as a component of its own (copies of this CD share `protos`).
        protos = [...protos.slice(0, -1), cd.detachBody(last)]
      }
      /** Arrays already at their final length (no trim needed). */
      let exact = false
      for (let k = 0; k < protos.length; k++) {
        const p = protos[k]!
        if (typeof p === 'number') continue // replaced above: only ever last
        if (p instanceof CD) {
          const body = p
          for (let j = 0; j < body.size; j++) {
            const v = body.vals[j]!
            reparent(v, cd)
            this.#merge(cd, body.names[j]!, v, body.tagsAt(j), body.poss[j]!, k > 0)
          }
          continue
        }
        const found = walkRef(p, cd, this.#hooks)
        if (!found.ok) {
          const cycle = found.why === 'cycle'
          this.#diags.error(cycle ? 'SF4003' : 'SF4001',
            `${cycle ? 'cyclic prototype' : 'unresolved prototype'} ${p.text} of ${where(cd)}: ${found.message}`, p.pos)
          continue
        }
        const target = found.value
        if (!(target instanceof CD)) {
          this.#diags.error('SF4002', `prototype ${p.text} of ${where(cd)} is not a component description`, p.pos)
          continue
        }
        if (target.typeState === 1 || isAncestor(target, cd)) {
          this.#diags.error('SF4003', `cyclic prototype: ${where(cd)} extends ${p.text}, which contains it or is being defined from it`, p.pos)
          continue
        }
        this.resolve(target)
        if (k === 0 && cd.size === 0 && target.tags === undefined) {
          // The usual `x extends Proto {...}`: the first prototype lands in an empty component, so its attributes
          // (and those of an untagged body right after it, the last prototype) are taken whole into arrays made
          // at their final length, instead of one set() and one array growth each.
          const next = protos[k + 1]
          if (k + 2 === protos.length && next instanceof CD && next.tags === undefined) {
            for (let j = 0; j < next.size; j++) reparent(next.vals[j]!, cd)
            cd.takeCopyOf(target, next)
            k++
            exact = true
          } else {
            cd.takeCopyOf(target)
          }
          continue
        }
        for (let j = 0; j < target.size; j++) {
          this.#merge(cd, target.names[j]!, copyValue(target.vals[j]!, cd), target.tagsAt(j), target.poss[j]!, k > 0)
        }
      }
      if (!exact) cd.trim()
    }
    // Children after the merge: a child extending an ancestor still sees it in progress and is reported as a cycle.
    for (let i = 0; i < cd.size; i++) this.#visit(cd.vals[i]!)
    cd.typeState = 2
  }

  #visit (v: RValue): void {
    if (v instanceof CD) { this.resolve(v); return }
    if (v.type === 'apply') this.resolve(v.body)
    else if (v.type === 'vector') for (const x of v.items) this.#visit(x)
  }

  #merge (cd: CD, name: string, value: RValue, tags: string[] | undefined, pos: Pos, checkOverride: boolean): void {
    const i = cd.indexOf(name)
    if (i >= 0 && cd.hasTag(i, 'sfFinal') && !isPlacement(name)) {
      this.#diags.error('SF4004', `attribute ${displayName(name)} of ${where(cd)} is tagged sfFinal and may not be overridden`, pos)
      return
    }
    if (i < 0 && checkOverride && tags?.includes('sfOverride') === true) {
      this.#diags.error('SF4005', `attribute ${displayName(name)} of ${where(cd)} is tagged sfOverride but overrides nothing`, pos)
    }
    cd.set(name, value, pos, tags)
  }
}

function isAncestor (a: CD, cd: CD): boolean {
  for (let c: CD | null = cd.parent; c !== null; c = c.parent) if (c === a) return true
  return false
}

/** Moves a value built inside an explicit `{...}` prototype into the component being defined. */
export function reparent (v: RValue, cd: CD): void {
  if (v instanceof CD) { v.parent = cd; return }
  if (v.type === 'apply') v.body.parent = cd
  else if (v.type === 'vector') for (const x of v.items) reparent(x, cd)
}

export function where (cd: CD): string {
  const p = cd.path()
  return p === '' ? 'the file root' : p
}

/**
 * Without a type phase (a phaseList leaving it out), components keep their prototypes unmerged: an inline body
 * (build.ts) is put back into a component of its own, as written.
 */
export function restoreInlineBodies (root: CD): void {
  const stack: RValue[] = [root]
  while (stack.length > 0) {
    const v = stack.pop()!
    if (v instanceof CD) {
      const protos = v.protos
      const last = protos?.[protos.length - 1]
      if (protos !== undefined && typeof last === 'number') {
        v.protos = [...protos.slice(0, -1), v.detachBody(last)]
      }
      for (const p of v.protos ?? []) if (p instanceof CD) stack.push(p)
      for (let i = 0; i < v.size; i++) stack.push(v.vals[i]!)
    } else if (v.type === 'apply') stack.push(v.body)
    else if (v.type === 'vector') for (const x of v.items) stack.push(x)
  }
}
