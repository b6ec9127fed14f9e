import type { DiagnosticBag } from '../diagnostics.ts'
import { schemaFor, typeCheck } from '../schemas.ts'
import { valueToJson } from '../to-json.ts'
import { CD, isPlacement } from './model.ts'
import type { RValue } from './model.ts'
import { javaClass } from './refs.ts'

// After resolution: every component whose sfClass is one of ours is checked against schemas.ts. Wrong types and
// missing required attributes are errors (SF81xx); well-typed values that cannot deploy are warnings (SF9xxx).

export function checkComponents (config: CD, diags: DiagnosticBag): void {
  const seen = new Set<CD>()
  // Paths are built on the way down: CD.path() walks up and searches each parent, too slow for every component.
  const stack: Array<[CD, string]> = [[config, config.path()]]
  while (stack.length > 0) {
    const [cd, path] = stack.pop()!
    if (seen.has(cd)) continue
    seen.add(cd)
    for (let i = cd.size - 1; i >= 0; i--) {
      const v = cd.vals[i]!
      if (v instanceof CD) stack.push([v, `${path}:${cd.names[i]!}`])
    }
    checkOne(cd, path, diags)
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
  for (const [name, [classes, description]] of Object.entries(PRIM_SCHEMA)) {
    const i = cd.indexOf(name)
    if (i < 0) continue
    const v = cd.vals[i]!
    if (isLazy(v)) continue
    const found = javaClass(v)
    if (classes.includes(found)) continue
    diags.error('SF8001', `${path}:${name}: error in schema: wrong class found for attribute '${name} (${description})', expected: ${classes.join(', ')}, found: ${found}`, cd.poss[i]!)
  }
}

function checkOne (cd: CD, path: string, diags: DiagnosticBag): void {
  if (!cd.eager) return
  const cls = cd.get('sfClass')
  if (cls === undefined) return
  checkPrimSchema(cd, path, diags)
  if (cls instanceof CD || cls.type !== 'string') return
  const schema = schemaFor(cls.value)
  if (schema === undefined) return
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
