import type { DiagnosticBag } from '../diagnostics.ts'
import { schemaFor, typeCheck } from '../schemas.ts'
import { valueToJson } from '../to-json.ts'
import { CD, isPlacement } from './model.ts'

// After resolution: every component whose sfClass is one of ours is checked against schemas.ts. Wrong types and
// missing required attributes are errors (SF81xx); well-typed values that cannot deploy are warnings (SF9xxx).

export function checkComponents (config: CD, diags: DiagnosticBag): void {
  const seen = new Set<CD>()
  const stack: CD[] = [config]
  while (stack.length > 0) {
    const cd = stack.pop()!
    if (seen.has(cd)) continue
    seen.add(cd)
    for (let i = cd.size - 1; i >= 0; i--) {
      const v = cd.vals[i]!
      if (v instanceof CD) stack.push(v)
    }
    checkOne(cd, diags)
  }
}

function checkOne (cd: CD, diags: DiagnosticBag): void {
  if (!cd.eager) return
  const cls = cd.get('sfClass')
  if (cls === undefined || cls instanceof CD || cls.type !== 'string') return
  const schema = schemaFor(cls.value)
  if (schema === undefined) return
  const path = cd.path()
  for (const [name, a] of Object.entries(schema.attrs)) {
    if (a.required && cd.indexOf(name) < 0) {
      diags.error('SF8101', `${path}: ${schema.name} requires attribute ${name} (${a.doc})`, cd.pos)
    }
  }
  for (let i = 0; i < cd.size; i++) {
    const name = cd.names[i]!
    if (isPlacement(name)) continue
    const v = cd.vals[i]!
    const a = schema.attrs[name]
    const at = `${path}:${name}`
    if (a === undefined) {
      if (schema.closed && !name.startsWith('sf') && !(v instanceof CD) && !(v.type === 'apply')) {
        diags.warning('SF9001', `${at}: ${schema.name} has no attribute ${name}; it is ignored (misspelt?)`, cd.poss[i]!)
      }
      continue
    }
    const json = valueToJson(v)
    const t = typeCheck(a.type, json)
    if (t.error !== undefined) { diags.error('SF8102', `${at}: ${t.error}`, cd.poss[i]!); continue }
    if (t.warning !== undefined) {
      diags.warning('SF9010', `${at}: ${t.warning}`, cd.poss[i]!)
      // Deploy what the warning says: the Boolean, not the String.
      if (typeof json === 'string') cd.vals[i] = { type: 'bool', value: json === 'true', pos: cd.poss[i]! }
    }
    if (typeof json === 'object' && json !== null && !Array.isArray(json) && '$ref' in json) continue
    const bad = a.validate?.(json)
    if (bad !== undefined) diags.warning('SF9002', `${at}: ${bad}`, cd.poss[i]!)
  }
  if (schema.attrs.usingExistingVolumes !== undefined && cd.indexOf('baseImage') < 0) {
    const u = cd.get('usingExistingVolumes')
    const reusing = u !== undefined && !(u instanceof CD) && ((u.type === 'bool' && u.value) || (u.type === 'string' && u.value === 'true'))
    if (!reusing) diags.error('SF8103', `${path}: ${schema.name} requires baseImage unless usingExistingVolumes is true`, cd.pos)
  }
}
