import type { DiagnosticBag } from '../diagnostics.ts'
import { CD, displayName, isPlacement, placementPath } from './model.ts'
import type { RValue } from './model.ts'
import { reparent, where } from './extends.ts'

// Placement (sf-language.md §8): `a:b:c value` defines `c` in the component reached by `a:b`, a prefix of HERE
// parts resolved from the defining component (first part local only). Multi-pass: a pass places what it can and
// the next one retries the rest, so forward placements (`a:b` written before `a` gets `b`) work.

interface Pending { cd: CD, name: string }

function collect (root: CD): Pending[] {
  const out: Pending[] = []
  const stack: RValue[] = [root]
  while (stack.length > 0) {
    const v = stack.pop()!
    if (v instanceof CD) {
      // Definition order: children are pushed in reverse.
      for (let i = v.size - 1; i >= 0; i--) stack.push(v.vals[i]!)
      for (let i = 0; i < v.size; i++) if (isPlacement(v.names[i]!)) out.push({ cd: v, name: v.names[i]! })
    } else if (v.type === 'apply') stack.push(v.body)
    else if (v.type === 'vector') for (let i = v.items.length - 1; i >= 0; i--) stack.push(v.items[i]!)
  }
  return out
}

type Target = { ok: true, cd: CD } | { ok: false, fatal: boolean, message: string }

function target (from: CD, path: string[]): Target {
  let cur: CD = from
  for (let k = 0; k < path.length - 1; k++) {
    const i = cur.indexOf(path[k]!)
    if (i < 0) return { ok: false, fatal: false, message: `cannot find ${path.slice(0, k + 1).join(':')} from ${where(from)}` }
    const v = cur.vals[i]!
    if (!(v instanceof CD)) {
      return { ok: false, fatal: true, message: `${path.slice(0, k + 1).join(':')} is not a component description` }
    }
    cur = v
  }
  return { ok: true, cd: cur }
}

export function placeAll (root: CD, diags: DiagnosticBag): void {
  let pending = collect(root)
  while (pending.length > 0) {
    let progress = false
    const waiting: Pending[] = []
    for (const p of pending) {
      const i = p.cd.indexOf(p.name)
      if (i < 0) continue
      const path = placementPath(p.name)
      const t = target(p.cd, path)
      if (!t.ok) {
        if (t.fatal) {
          diags.error('SF5002', `cannot place ${displayName(p.name)}: ${t.message}`, p.cd.poss[i]!)
          p.cd.removeAt(i)
          progress = true
        } else {
          waiting.push(p)
        }
        continue
      }
      const value = p.cd.vals[i]!
      const tags = p.cd.tagsAt(i)
      const pos = p.cd.poss[i]!
      p.cd.removeAt(i)
      progress = true
      const last = path[path.length - 1]!
      const j = t.cd.indexOf(last)
      if (j >= 0 && t.cd.hasTag(j, 'sfFinal')) {
        diags.error('SF5003', `cannot place ${displayName(p.name)}: ${last} is tagged sfFinal in ${where(t.cd)}`, pos)
        continue
      }
      reparent(value, t.cd)
      t.cd.set(last, value, pos, tags)
    }
    if (!progress) {
      for (const p of waiting) {
        const i = p.cd.indexOf(p.name)
        if (i < 0) continue
        const t = target(p.cd, placementPath(p.name))
        diags.error('SF5001', `cannot place ${displayName(p.name)}: ${t.ok ? 'unknown' : t.message} (placement prefixes are looked up HERE, not in enclosing components)`, p.cd.poss[i]!)
        p.cd.removeAt(i)
      }
      return
    }
    // Placed components may carry placements of their own: look again over the whole tree.
    pending = collect(root)
  }
}
