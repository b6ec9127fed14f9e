import type { Attribute, Pos, SfFile, Value } from '../ast.ts'
import type { DiagnosticBag } from '../diagnostics.ts'
import { CD, PLACE } from './model.ts'
import type { RValue } from './model.ts'

// Builds the resolver's tree from the parser's AST. Nothing is resolved here: components keep their prototypes
// for the type phase, placements are kept as attributes under a reserved key for the place phase.

/** Placements seen while building: when there are none (the common case) the place phase is skipped. */
export const buildStats = { placements: 0 }

export function buildRoot (file: SfFile, diags: DiagnosticBag): CD {
  const pos: Pos = file.attrs[0]?.pos ?? { file: file.files[0] ?? '<input>', line: 1, col: 1 }
  const root = new CD(null, pos)
  fillBody(root, file.attrs, diags)
  return root
}

export function fillBody (cd: CD, attrs: Attribute[], diags: DiagnosticBag): void {
  for (const a of attrs) {
    const name = a.name.length === 1 ? a.name[0]! : PLACE + a.name.join(PLACE)
    if (a.name.length > 1) buildStats.placements++
    if (name.includes('$') && a.name.some(n => n.startsWith('$'))) {
      diags.error('SF4010', `attribute name ${JSON.stringify(a.name.join(':'))} may not start with '$'`, a.pos)
      continue
    }
    const c0 = name.charCodeAt(0)
    if (((c0 >= 48 && c0 <= 57) || c0 === 45) && /^(0|-?[1-9][0-9]*)$/.test(name)) {
      // JSON objects reorder integer keys: refuse them rather than lose the attribute order (sfjson.ts).
      diags.error('SF4011', `attribute name ${name} is an integer; sdpeer refuses it (its order would be lost in JSON)`, a.pos)
      continue
    }
    cd.set(name, buildValue(a.value, cd, diags), a.pos, a.tags.length > 0 ? a.tags.slice() : undefined)
  }
  // Arrays grown by push keep room for 17+ entries; this tree lives until type resolution (and is promoted to
  // the old generation meanwhile), so it is cut to size once filled.
  if (cd.size > 0 && cd.size < 16) cd.trim()
}

export function buildValue (v: Value, parent: CD, diags: DiagnosticBag): RValue {
  switch (v.type) {
    case 'component': {
      const cd = new CD(parent, v.pos, v.eager)
      const ps = v.prototypes
      const first = ps[0]
      if (ps.length === 1 && first !== undefined && first.kind === 'body') {
        // A single explicit body is the component's own context ([jj] BaseComponent).
        fillBody(cd, first.attrs, diags)
        cd.typeState = 0
        return cd
      }
      cd.protos = []
      for (const p of ps) {
        if (p.kind === 'null') continue
        if (p.kind === 'ref') { cd.protos.push({ kind: 'ref', ref: p.ref }); continue }
        const body = new CD(cd, p.pos)
        fillBody(body, p.attrs, diags)
        cd.protos.push({ kind: 'body', cd: body })
      }
      return cd
    }
    case 'apply': {
      const body = new CD(parent, v.pos)
      fillBody(body, v.body, diags)
      return { type: 'apply', assert: v.assert, lazy: v.lazy, data: v.data, body, pos: v.pos }
    }
    case 'vector':
      return { type: 'vector', items: v.items.map(x => buildValue(x, parent, diags)), pos: v.pos }
    default:
      return v
  }
}
