import type { DiagnosticBag } from '../diagnostics.ts'
import { CD } from './model.ts'
import type { RApply, RValue } from './model.ts'
import { where } from './extends.ts'

// The function phase (sf-language.md §10, §11): components extending Function, Assertions or Schema carry a
// `phase.function` attribute naming SmartFrog's constructor class; they become APPLY / ASSERT nodes. Whole root,
// depth-first, inner first (a Schema's elements are already APPLYs when the Schema is built).

const PKG = 'org.smartfrog.sfcore.languages.sf.'
export const CHECK_ASSERTIONS = PKG + 'functions.CheckAssertions'

export function constructAll (root: CD, diags: DiagnosticBag): void {
  visitCD(root, diags)
}

function visitCD (cd: CD, diags: DiagnosticBag): void {
  for (let i = 0; i < cd.size; i++) {
    const v = cd.vals[i]!
    const out = visit(v, diags)
    if (out !== v) cd.vals[i] = out
  }
}

function visit (v: RValue, diags: DiagnosticBag): RValue {
  if (v instanceof CD) {
    visitCD(v, diags)
    return construct(v, diags) ?? v
  }
  if (v.type === 'apply') { visitCD(v.body, diags); return v }
  if (v.type === 'vector') {
    for (let i = 0; i < v.items.length; i++) v.items[i] = visit(v.items[i]!, diags)
  }
  return v
}

function phaseIndex (cd: CD): number {
  const i = cd.indexOf('phase.function')
  if (i >= 0) return i
  for (let k = 0; k < cd.size; k++) if (cd.names[k]!.startsWith('phase.function')) return k
  return -1
}

function construct (cd: CD, diags: DiagnosticBag): RApply | undefined {
  const pi = phaseIndex(cd)
  if (pi < 0) return undefined
  const cls = cd.vals[pi]!
  if (cls instanceof CD || cls.type !== 'string') {
    diags.error('SF7001', `phase.function of ${where(cd)} must be a class name string`, cd.poss[pi]!)
    return undefined
  }
  const pos = cd.pos
  cd.removeAt(pi)
  const kind = cls.value.slice(cls.value.lastIndexOf('.') + 1)
  if (kind === 'ConstructFunction') {
    const lazy = cd.get('sfFunctionLazy')
    const isLazy = lazy !== undefined && !(lazy instanceof CD) && lazy.type === 'bool' && lazy.value
    return { type: 'apply', assert: false, lazy: isLazy, data: false, body: cd, pos }
  }
  if (kind === 'ConstructAssertions' || kind === 'ConstructSchema') {
    let phase: RApply['phase'] = 'dynamic'
    const ai = cd.indexOf('sfAssertionPhase')
    if (ai >= 0) {
      const p = cd.vals[ai]!
      if (!(p instanceof CD) && p.type === 'string' && (p.value === 'static' || p.value === 'staticLazy' || p.value === 'dynamic')) {
        phase = p.value
      } else {
        diags.error('SF8010', `sfAssertionPhase of ${where(cd)} must be "static", "staticLazy" or "dynamic"`, cd.poss[ai]!)
      }
      cd.removeAt(ai)
    }
    if (kind === 'ConstructSchema') {
      // Each element checks the attribute named like it, whatever its own `name` said; anything that is not an
      // element (sfSchemaDescription, notes) is dropped, as SmartFrog's ConstructSchema does.
      cd.filter(i => { const e = cd.vals[i]!; return !(e instanceof CD) && e.type === 'apply' })
      for (let i = 0; i < cd.size; i++) {
        const e = cd.vals[i]! as RApply
        e.body.set('name', { type: 'string', value: cd.names[i]!, pos: cd.poss[i]! }, cd.poss[i]!)
      }
    }
    cd.set('sfFunctionClass', { type: 'string', value: CHECK_ASSERTIONS, pos }, pos)
    return { type: 'apply', assert: true, lazy: false, data: false, body: cd, phase, pos }
  }
  diags.error('SF7002', `unknown phase.function class ${cls.value} in ${where(cd)}`, cls.pos)
  return undefined
}
