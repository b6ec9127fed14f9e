import type { Pos } from '../ast.ts'
import type { DiagnosticBag } from '../diagnostics.ts'
import { schemaFor, typeCheck } from '../schemas.ts'
import type { AttrSchema, ComponentSchema, TypeCheck } from '../schemas.ts'
import { valueToJson } from '../to-json.ts'
import { CD, isPlacement } from './model.ts'
import type { RValue } from './model.ts'
import { javaClass } from './refs.ts'

// After resolution: every component whose sfClass is one of ours is checked against schemas.ts. Wrong types and
// missing required attributes are errors (SF81xx); well-typed values that cannot deploy are warnings (SF9xxx).

/**
 * The components met, each with its parent's index and its attribute name: paths are built only for the few
 * components that get a diagnostic (building one string per component costs more than all the checks).
 */
class Visit {
  readonly cds: CD[] = []
  readonly parents: number[] = []
  readonly names: string[] = []
  readonly poss: Pos[] = []
  readonly #rootPath: string
  constructor (root: CD) {
    this.#rootPath = root.path()
    this.add(root, -1, '', root.pos)
  }

  add (cd: CD, parent: number, name: string, pos: Pos): void {
    this.cds.push(cd); this.parents.push(parent); this.names.push(name); this.poss.push(pos)
  }

  path (k: number): string {
    const parts: string[] = []
    for (let j = k; j > 0; j = this.parents[j]!) parts.push(this.names[j]!)
    parts.push(this.#rootPath)
    return parts.reverse().filter(p => p !== '').join(':')
  }
}

export function checkComponents (config: CD, diags: DiagnosticBag): void {
  verdicts = new Map()
  try { checkAll(config, diags) } finally { verdicts = new Map() }
}

/**
 * What typeCheck and validate said of a value for a schema attribute, the last one per attribute. Scalars are
 * shared by every component that inherits them (a pool's 10,000 VMs have one `kernel` value object between them,
 * met one after the other), so each is checked once in a row; the diagnostics, which name each component, are
 * still made for each. One entry per schema attribute: a table of every value would outweigh the checks.
 */
interface Verdict { v: RValue, t: TypeCheck, bad: string | undefined, isRef: boolean }
let verdicts = new Map<AttrSchema, Verdict>()

function verdictOf (attr: AttrSchema, v: RValue): Verdict {
  const known = verdicts.get(attr)
  if (known !== undefined && known.v === v) return known
  const json = valueToJson(v)
  const t = typeCheck(attr.type, json)
  const isRef = typeof json === 'object' && json !== null && !Array.isArray(json) && '$ref' in json
  // validate only runs on a value without a type error (and not on a reference), as the checks below need.
  const bad = t.error === undefined && !isRef ? attr.validate?.(json) : undefined
  const verdict = { v, t, bad, isRef }
  if (!(v instanceof CD)) verdicts.set(attr, verdict)
  return verdict
}

function checkAll (config: CD, diags: DiagnosticBag): void {
  const seen = new Set<CD>([config])
  const visit = new Visit(config)
  // Breadth-first over the visit list itself: no separate stack. Shared components (links) are checked once.
  for (let k = 0; k < visit.cds.length; k++) {
    const cd = visit.cds[k]!
    for (let i = 0; i < cd.size; i++) {
      const v = cd.vals[i]!
      if (v instanceof CD && !seen.has(v)) { seen.add(v); visit.add(v, k, cd.names[i]!, cd.poss[i]!) }
    }
    checkOne(visit, k, diags)
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

function checkPrimSchema (cd: CD, visit: Visit, k: number, diags: DiagnosticBag): void {
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
    diags.error('SF8001', `${visit.path(k)}:${name}: error in schema: wrong class found for attribute '${name} (${description})', expected: ${classes.join(', ')}, found: ${found}`, cd.poss[i]!)
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

function checkOne (visit: Visit, k: number, diags: DiagnosticBag): void {
  const cd = visit.cds[k]!
  if (!cd.eager) return
  const cls = cd.get('sfClass')
  if (cls === undefined) return
  checkPrimSchema(cd, visit, k, diags)
  if (cls instanceof CD || cls.type !== 'string') return
  const schema = schemaFor(cls.value)
  if (schema === undefined) return
  // One diagnostic per component (the bag keeps one per position), naming every missing attribute.
  const required = requiredOf(schema)
  for (const name of required) {
    if (cd.indexOf(name) >= 0) continue
    const missing = required.filter(n => cd.indexOf(n) < 0)
    const list = missing.map(n => `${n} (${schema.attrs[n]!.doc})`).join(', ')
    diags.error('SF8101', `${visit.path(k)}: ${schema.name} requires attribute${missing.length > 1 ? 's' : ''} ${list}`, visit.poss[k]!)
    break
  }
  for (let i = 0; i < cd.size; i++) {
    const name = cd.names[i]!
    if (isPlacement(name)) continue
    const v = cd.vals[i]!
    const a = schema.attrs[name]
    if (a === undefined) {
      if (schema.closed && !name.startsWith('sf') && !(v instanceof CD) && !(v.type === 'apply')) {
        diags.warning('SF9001', `${visit.path(k)}:${name}: ${schema.name} has no attribute ${name}; it is ignored (misspelt?)`, cd.poss[i]!)
      }
      continue
    }
    if (a.type === 'any') continue
    // A LAZY reference is known only at run time: accepted as is, without building its JSON form.
    if (!(v instanceof CD) && v.type === 'ref' && v.lazy) continue
    const { t, bad, isRef } = verdictOf(a, v)
    if (t.error !== undefined) { diags.error('SF8102', `${visit.path(k)}:${name}: ${t.error}`, cd.poss[i]!); continue }
    if (t.warning !== undefined) {
      diags.warning('SF9010', `${visit.path(k)}:${name}: ${t.warning}`, cd.poss[i]!)
      // Deploy what the warning says: the Boolean, not the String.
      if (!(v instanceof CD) && v.type === 'string') cd.vals[i] = { type: 'bool', value: v.value === 'true', pos: cd.poss[i]! }
    }
    if (isRef) continue
    if (bad !== undefined) diags.warning('SF9002', `${visit.path(k)}:${name}: ${bad}`, cd.poss[i]!)
  }
  if (schema.attrs.usingExistingVolumes !== undefined && cd.indexOf('baseImage') < 0) {
    const u = cd.get('usingExistingVolumes')
    const reusing = u !== undefined && !(u instanceof CD) && ((u.type === 'bool' && u.value) || (u.type === 'string' && u.value === 'true'))
    if (!reusing) diags.error('SF8103', `${visit.path(k)}: ${schema.name} requires baseImage unless usingExistingVolumes is true`, visit.poss[k]!)
  }
}
