import { isComponent, isRef } from '../sf/sfjson.ts'
import type { SfJson, SfJsonObject } from '../sf/sfjson.ts'
import { EngineError } from './types.ts'
import { formatReference, parseReferenceText } from './reference.ts'
import type { ParsedReference } from './reference.ts'

// Run-time resolution of references against the live tree (sf-language.md §9, "moving ROOT" of §13). A node is a
// live component, a non-eager CD held as a plain attribute value, or a RemoteNode: a component of the same pool
// held by another peer (a split pool's placeholder, or the parent of a part's root). The walk cannot step into a
// RemoteNode itself; it hands the rest of the reference, from that node, to a RemoteLookup (node/engine/remote.ts).

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
    return asNode(this, name, this.value[name])
  }
}

/** A component held by another peer: `path` is its path in the whole pool (not relative to this engine pool). */
export class RemoteNode implements ResolveNode {
  readonly path: string
  /** The host holding it, when known (shown in errors). */
  readonly host: string | undefined
  readonly parentNode = undefined
  constructor (path: string, host?: string) {
    this.path = path
    this.host = host
  }

  lookupOwn (): undefined { return undefined }
}

/**
 * Resolves reference text `ref` starting at the remote node at `path` (sync: answers from values fetched before,
 * or throws; see RemoteValues). Returns a value or a RemoteNode.
 */
export type RemoteLookup = (path: string, ref: string) => Resolved

/** A split pool's placeholder for a child deployed elsewhere: `{"$data": true, "$remote": {"path", "host"}}`. */
function remotePlaceholder (v: SfJsonObject): RemoteNode | undefined {
  const r = v.$remote
  if (typeof r !== 'object' || r === null || Array.isArray(r) || typeof r.path !== 'string') return undefined
  return new RemoteNode(r.path, typeof r.host === 'string' ? r.host : undefined)
}

/** What an attribute value is as a node of the walk: a placeholder, a CD, or the value itself. */
export function asNode (parent: ResolveNode, name: string, v: SfJson): ResolveNode | SfJson {
  if (!isComponent(v)) return v
  return remotePlaceholder(v) ?? new DataNode(parent, name, v)
}

const MAX_DEPTH = 32

export type Resolved = ResolveNode | SfJson

/**
 * Resolves reference text found in `from`'s attribute. Throws EngineError (with `from`'s path) when it fails.
 * `remote` answers for the parts of the walk that lie on other peers; without it they fail with a clear error.
 */
export function resolveReferenceText (text: string, from: ResolveNode, pool?: string, depth = 0, remote?: RemoteLookup): Resolved {
  let ref: ParsedReference
  try {
    ref = parseReferenceText(text)
  } catch (err) {
    throw new EngineError((err as Error).message, pool, from.path, { cause: err })
  }
  if (ref.data) return { $ref: text }
  try {
    return walk(ref, from, pool, depth, remote)
  } catch (err) {
    // A value still to be fetched is not a failure: OPTIONAL applies to the answer, once it is known.
    if (ref.optional && !(err instanceof Error && err.name === 'RemoteRefPending')) return ref.defaultValue
    throw err
  }
}

function walk (ref: ParsedReference, from: ResolveNode, pool: string | undefined, depth: number, remote: RemoteLookup | undefined): Resolved {
  if (depth > MAX_DEPTH) throw new EngineError(`reference ${formatReference(ref.parts)}: too deep (cyclic reference?)`, pool, from.path)
  let here: Resolved = from
  const fail = (msg: string): never => { throw new EngineError(`cannot resolve ${formatReference(ref.parts)}: ${msg}`, pool, from.path) }
  // The rest of the walk (from part i) goes on at the peer holding `node`.
  const handOver = (node: RemoteNode, i: number): Resolved => {
    if (remote === undefined) fail(`${node.path} is held by another peer${node.host ? ` (${node.host})` : ''} and this engine has no mesh to ask`)
    return (remote as RemoteLookup)(node.path, formatReference(ref.parts.slice(i)))
  }
  for (const [i, part] of ref.parts.entries()) {
    if (!isResolveNode(here)) fail('a part goes through a value that is not a component')
    const node = here as ResolveNode
    if (node instanceof RemoteNode) return handOver(node, i)
    switch (part.kind) {
      case 'THIS': break
      case 'PARENT':
        if (!node.parentNode) fail('PARENT of the root')
        here = node.parentNode as ResolveNode
        break
      case 'ROOT': {
        let n = node
        while (n.parentNode) {
          n = n.parentNode
          if (n instanceof RemoteNode) return handOver(n, i)
        }
        here = n
        break
      }
      case 'HERE': {
        const v = node.lookupOwn(part.name)
        if (v === undefined) fail(`no attribute ${part.name} in ${node.path || 'the root'}`)
        here = follow(v as Resolved, node, pool, depth, remote)
        break
      }
      case 'ATTRIB': {
        let n: ResolveNode | undefined = node
        let found: Resolved | undefined
        while (n) {
          if (n instanceof RemoteNode) return handOver(n, i)
          const v = n.lookupOwn(part.name)
          if (v !== undefined) { found = follow(v, n, pool, depth, remote); break }
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
function follow (v: Resolved, definedIn: ResolveNode, pool: string | undefined, depth: number, remote: RemoteLookup | undefined): Resolved {
  if (!isResolveNode(v) && isRef(v as SfJson)) return resolveReferenceText((v as { $ref: string }).$ref, definedIn, pool, depth + 1, remote)
  return v
}
