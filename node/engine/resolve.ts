import { isComponent, isRef } from '../sf/sfjson.ts'
import type { SfJson, SfJsonObject } from '../sf/sfjson.ts'
import { EngineError } from './types.ts'
import { formatReference, parseReferenceText } from './reference.ts'
import type { ParsedReference } from './reference.ts'

// Run-time resolution of references against the live tree (sf-language.md §9, "moving ROOT" of §13). A node is a
// live component or a non-eager CD held as a plain attribute value; remote components will be nodes too (the mesh
// plugs in a node whose lookups cross the wire), so this walks only the small ResolveNode interface.

export interface ResolveNode {
  readonly path: string
  readonly parentNode: ResolveNode | undefined
  /** The node's own attribute or child named `name`, unresolved; undefined when it has none. */
  lookupOwn (name: string): ResolveNode | SfJson | undefined
}

export function isResolveNode (v: unknown): v is ResolveNode {
  return typeof v === 'object' && v !== null && typeof (v as ResolveNode).lookupOwn === 'function'
}

/** A CD that is a plain value (`extends DATA`, or any CD inside a vector): walked like a node, returned as data. */
export class DataNode implements ResolveNode {
  readonly path: string
  readonly parentNode: ResolveNode
  readonly value: SfJsonObject
  constructor (parent: ResolveNode, name: string, value: SfJsonObject) {
    this.parentNode = parent
    this.path = parent.path ? `${parent.path}:${name}` : name
    this.value = value
  }

  lookupOwn (name: string): ResolveNode | SfJson | undefined {
    if (name.startsWith('$') || !Object.hasOwn(this.value, name)) return undefined
    const v = this.value[name]
    return isComponent(v) ? new DataNode(this, name, v) : v
  }
}

const MAX_DEPTH = 32

export type Resolved = ResolveNode | SfJson

/** Resolves reference text found in `from`'s attribute. Throws EngineError (with `from`'s path) when it fails. */
export function resolveReferenceText (text: string, from: ResolveNode, pool?: string, depth = 0): Resolved {
  let ref: ParsedReference
  try {
    ref = parseReferenceText(text)
  } catch (err) {
    throw new EngineError((err as Error).message, pool, from.path, { cause: err })
  }
  if (ref.data) return { $ref: text }
  try {
    return walk(ref, from, pool, depth)
  } catch (err) {
    if (ref.optional) return ref.defaultValue
    throw err
  }
}

function walk (ref: ParsedReference, from: ResolveNode, pool: string | undefined, depth: number): Resolved {
  if (depth > MAX_DEPTH) throw new EngineError(`reference ${formatReference(ref.parts)}: too deep (cyclic reference?)`, pool, from.path)
  let here: Resolved = from
  const fail = (msg: string): never => { throw new EngineError(`cannot resolve ${formatReference(ref.parts)}: ${msg}`, pool, from.path) }
  for (const part of ref.parts) {
    if (!isResolveNode(here)) fail('a part goes through a value that is not a component')
    const node = here as ResolveNode
    switch (part.kind) {
      case 'THIS': break
      case 'PARENT':
        if (!node.parentNode) fail('PARENT of the root')
        here = node.parentNode as ResolveNode
        break
      case 'ROOT': {
        let n = node
        while (n.parentNode) n = n.parentNode
        here = n
        break
      }
      case 'HERE': {
        const v = node.lookupOwn(part.name)
        if (v === undefined) fail(`no attribute ${part.name} in ${node.path || 'the root'}`)
        here = follow(v as Resolved, node, pool, depth)
        break
      }
      case 'ATTRIB': {
        let n: ResolveNode | undefined = node
        let found: Resolved | undefined
        while (n) {
          const v = n.lookupOwn(part.name)
          if (v !== undefined) { found = follow(v, n, pool, depth); break }
          n = n.parentNode
        }
        if (found === undefined) fail(`no attribute ${part.name} in ${node.path || 'the root'} or its parents`)
        here = found as Resolved
        break
      }
    }
  }
  return here
}

/** A reached attribute that is itself a reference is resolved where it is defined, then the walk goes on. */
function follow (v: Resolved, definedIn: ResolveNode, pool: string | undefined, depth: number): Resolved {
  if (!isResolveNode(v) && isRef(v as SfJson)) return resolveReferenceText((v as { $ref: string }).$ref, definedIn, pool, depth + 1)
  return v
}
