import type { Attribute, ComponentNode, Pos, SfFile, Value } from '../ast.ts'
import type { DiagnosticBag } from '../diagnostics.ts'
import { CD, PLACE } from './model.ts'
import type { RValue } from './model.ts'

// Builds the resolver's tree from the parser's AST. Nothing is resolved here: components keep their prototypes
// for the type phase, placements are kept as attributes under a reserved key for the place phase.

/** Placements seen while building: when there are none (the common case) the place phase is skipped. */
export const buildStats = { placements: 0 }

export function buildRoot (file: SfFile, diags: DiagnosticBag): CD {
  // 0: where the root file starts (the parse session's first source).
  const pos: Pos = file.attrs[0]?.pos ?? 0
  const root = new CD(null, pos)
  fillBody(root, file.attrs, diags)
  return root
}

export function fillBody (cd: CD, attrs: Attribute[], diags: DiagnosticBag): void {
  if (cd.size === 0 && plain(attrs)) {
    // Nearly every body: arrays made at their length, not grown by push and trimmed (the garbage of both was a
    // tenth of everything a big pool allocates while parsing).
    cd.adopt(attrs.map(a => a.name[0]!), attrs.map(a => buildValue(a.value, cd, diags)), attrs.map(a => a.pos))
    return
  }
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

/** Untagged attributes with distinct one-word names that need no diagnostic: set() one by one would only append. */
function plain (attrs: Attribute[]): boolean {
  const n = attrs.length
  if (n === 0 || n >= 24) return false
  for (let i = 0; i < n; i++) {
    const a = attrs[i]!
    if (a.name.length !== 1 || a.tags.length > 0) return false
    const name = a.name[0]!
    const c0 = name.charCodeAt(0)
    if (c0 === 36 || (c0 >= 48 && c0 <= 57) || c0 === 45) return false // `$`, or maybe an integer: the general path
    for (let j = 0; j < i; j++) if (attrs[j]!.name[0] === name) return false
  }
  return true
}

/**
 * A component built as soon as the parser has read it (ParseOptions.direct), its parent set when the enclosing
 * body is built. Same result as buildValue on the finished tree: only the order of the work differs.
 */
export function buildDetached (node: ComponentNode, diags: DiagnosticBag): CD {
  return buildValue(node, null as unknown as CD, diags) as CD
}

export function buildValue (v: Value, parent: CD, diags: DiagnosticBag): RValue {
  // Built already while parsing (buildDetached): adopted here.
  if ((v as unknown) instanceof CD) { const cd = v as unknown as CD; cd.parent = parent; return cd }
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
      const second = ps[1]
      if (ps.length === 2 && first !== undefined && first.kind === 'ref' && second !== undefined && second.kind === 'body') {
        // The usual `x extends P {...}`: the body's attributes are kept in the component itself until type
        // resolution takes them out again (CD.detachBody), instead of in a component of their own (a pool has
        // one per VM and per disk; they were a fifth of the tree built here).
        fillBody(cd, second.attrs, diags)
        cd.protos = [first.ref, second.pos]
        return cd
      }
      cd.protos = []
      for (const p of ps) {
        if (p.kind === 'null') continue
        if (p.kind === 'ref') { cd.protos.push(p.ref); continue }
        const body = new CD(cd, p.pos)
        fillBody(body, p.attrs, diags)
        cd.protos.push(body)
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
