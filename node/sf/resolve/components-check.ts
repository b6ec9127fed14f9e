import type { Pos } from '../ast.ts'
import type { DiagnosticBag } from '../diagnostics.ts'
import { schemaFor, typeCheck } from '../schemas.ts'
import type { ComponentSchema } from '../schemas.ts'
import { valueToJson } from '../to-json.ts'
import { CD, isPlacement } from './model.ts'
import type { RValue } from './model.ts'
import { javaClass } from './refs.ts'

// After resolution: every component whose sfClass is one of ours is checked against schemas.ts. Wrong types and
// missing required attributes are errors (SF81xx); well-typed values that cannot deploy are warnings (SF9xxx).

export function checkComponents (config: CD, diags: DiagnosticBag): void {
  const seen = new Set<CD>()
  // Paths are built on the way down: CD.path() walks up and searches each parent, too slow for every component.
  // A component's own errors point at the attribute that defines it (`vm extends XenDomain`).
  const stack: Array<[CD, string, Pos]> = [[config, config.path(), config.pos]]
  while (stack.length > 0) {
    const [cd, path, at] = stack.pop()!
    if (seen.has(cd)) continue
    seen.add(cd)
    for (let i = cd.size - 1; i >= 0; i--) {
      const v = cd.vals[i]!
      if (v instanceof CD) stack.push([v, `${path}:${cd.names[i]!}`, cd.poss[i]!])
    }
    checkOne(cd, path, at, diags)
  }
}

// SmartFrog's PrimSchema (static, attached to every Prim as sfPrimSchema), checked natively: our bundled Prim does
// not carry the copy (see prim.sf). Attribute -> accepted Java classes, and the description SmartFrog prints.
const INTEGER = 'java.lang.Integer'
const PRIM_SCHEMA: Record<string, [string[], string]> = {
  sfClass: [['java.lang.String'], 'class that implements component'],
  sfCodeBase: [['java.lang.String'], 'codebase used during dynamic classloading'],
  sfDeployerClass: [['java.lang.String'], 'deployer class'],
  sfExport: [['java.lang.Boolean'], 'decides if a component is remotely exported'],
  sfExportPort: [[INTEGER, 'java.util.Vector'], 'port used to export the component'],
  sfLivenessDelay: [['java.lang.Long', INTEGER], 'how often to send liveness in seconds'],
  sfLivenessFactor: [[INTEGER], 'how many multiples of the liveness delay to wait till a failure is sent'],
  sfLog: [['java.lang.String'], 'defines a name for the log used by this component'],
  sfProcessComponentName: [['java.lang.String'], 'name to register component in local processCompound'],
  sfProcessHost: [['java.lang.String'], 'host where the component has to be deployed'],
  sfSyncTerminate: [['java.lang.Boolean'], 'decides if a component should terminate synchronously or asynchronously']
}

function isLazy (v: RValue): boolean {
  return !(v instanceof CD) && (v.type === 'ref' || v.type === 'apply') && v.lazy
}

function checkPrimSchema (cd: CD, path: string, diags: DiagnosticBag): void {
  if (cd.indexOf('sfPrimSchema') >= 0) return
  for (let i = 0; i < cd.size; i++) {
    const name = cd.names[i]!
    // Every PrimSchema attribute starts with "sf": one character test spares the table lookup for the rest.
    if (name.charCodeAt(0) !== 115 || name.charCodeAt(1) !== 102 || !Object.hasOwn(PRIM_SCHEMA, name)) continue
    const [classes, description] = PRIM_SCHEMA[name]!
    const v = cd.vals[i]!
    if (isLazy(v)) continue
    const found = javaClass(v)
    if (classes.includes(found)) continue
    diags.error('SF8001', `${path}:${name}: error in schema: wrong class found for attribute '${name} (${description})', expected: ${classes.join(', ')}, found: ${found}`, cd.poss[i]!)
  }
}

const required = new WeakMap<ComponentSchema, string[]>()
function requiredOf (schema: ComponentSchema): string[] {
  let r = required.get(schema)
  if (r === undefined) {
    r = Object.entries(schema.attrs).filter(([, a]) => a.required).map(([n]) => n)
    required.set(schema, r)
  }
  return r
}

function checkOne (cd: CD, path: string, at0: Pos, diags: DiagnosticBag): void {
  if (!cd.eager) return
  const cls = cd.get('sfClass')
  if (cls === undefined) return
  checkPrimSchema(cd, path, diags)
  if (cls instanceof CD || cls.type !== 'string') return
  const schema = schemaFor(cls.value)
  if (schema === undefined) return
  // One diagnostic per component (the bag keeps one per position), naming every missing attribute.
  const missing = requiredOf(schema).filter(name => cd.indexOf(name) < 0)
  if (missing.length > 0) {
    const list = missing.map(n => `${n} (${schema.attrs[n]!.doc})`).join(', ')
    diags.error('SF8101', `${path}: ${schema.name} requires attribute${missing.length > 1 ? 's' : ''} ${list}`, at0)
  }
  for (let i = 0; i < cd.size; i++) {
    const name = cd.names[i]!
    if (isPlacement(name)) continue
    const v = cd.vals[i]!
    const a = schema.attrs[name]
    const at = path + ':' + name
    if (a === undefined) {
      if (schema.closed && !name.startsWith('sf') && !(v instanceof CD) && !(v.type === 'apply')) {
        diags.warning('SF9001', `${at}: ${schema.name} has no attribute ${name}; it is ignored (misspelt?)`, cd.poss[i]!)
      }
      continue
    }
    if (a.type === 'any') continue
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
    if (!reusing) diags.error('SF8103', `${path}: ${schema.name} requires baseImage unless usingExistingVolumes is true`, at0)
  }
}
