import type { SfJson } from '../sf/sfjson.ts'
import { DataNode, isResolveNode, RemoteNode } from './resolve.ts'
import type { RemoteLookup, Resolved } from './resolve.ts'
import { EngineError } from './types.ts'

// The engine's whole knowledge of the mesh: a pool may be one part of a larger pool whose other parts other peers
// hold, and a LAZY reference may lead there. The deploy layer (node/deploy/engine-adapter.ts) injects a
// RemoteResolver; the engine never sees peers, streams or the registry.
//
// Attribute lookups are synchronous (components read `this.string('ip')`), the mesh is not. So a lifecycle step
// (deploy, start) and a `get` first run their lookups against a RemoteValues: each lookup that leads to another
// peer throws RemoteRefPending, the value is fetched, and the lookups run again until none is pending. The step
// then runs with those answers. They are kept for that step only: LAZY means read again next time.

export interface RemoteAskOptions {
  /** Resolve hops already taken by the request being answered (0 for a lookup that starts here). */
  hops: number
  /** Time left for the whole lookup (ms), when it answers a request from another peer. */
  budgetMs?: number
  signal?: AbortSignal
}

/** The mesh as the engine sees it. Implemented by node/deploy/remote-refs.ts. */
export interface RemoteResolver {
  /**
   * Where engine pool `pool` sits in the pool it is a part of: the path of its root there, and the path of that
   * root's parent (absent for the pool's root part). Undefined: the pool is whole on this host. Must not block.
   */
  placement (pool: string): { path: string, parentPath?: string } | undefined
  /**
   * Resolves reference text `ref` (`HERE ip`, `ATTRIB x:HERE y`, `ROOT:...`) from the component at `path` (a path in
   * the whole pool) of the pool engine pool `pool` is part of, on whichever peer holds it. Answers wire values
   * (toWire). Rejects, naming the peer, when that peer cannot be asked or refuses; bounded in time.
   */
  resolve (pool: string, path: string, ref: string, options: RemoteAskOptions): Promise<SfJson>
}

/** Thrown by a lookup whose answer lies on another peer and has not been fetched yet. */
export class RemoteRefPending extends Error {
  override readonly name = 'RemoteRefPending'
  readonly target: string
  readonly ref: string
  constructor (target: string, ref: string, pool?: string) {
    super(`${pool ?? ''}:${target}: ${ref} from there is held by another peer, read through the mesh only at deploy, start and get`)
    this.target = target
    this.ref = ref
  }
}

/** How many fetches one step may need (a reference that leads to one that leads to ...). */
const MAX_FETCHES = 16

export class RemoteValues {
  readonly #values = new Map<string, { ok: true, v: Resolved } | { ok: false, err: unknown }>()

  /** The answer fetched for (path, ref); throws the fetch's error, or RemoteRefPending when not fetched yet. */
  get (path: string, ref: string): Resolved | undefined {
    const hit = this.#values.get(`${path}\n${ref}`)
    if (hit === undefined) return undefined
    if (!hit.ok) throw hit.err
    return hit.v
  }

  /**
   * Runs `lookups` until none throws RemoteRefPending, fetching each pending answer with `ask` in between. A
   * fetch that fails is kept as its error (the lookup that needs it throws it). Other errors of `lookups` propagate.
   */
  async fill (lookups: () => void, ask: (path: string, ref: string) => Promise<SfJson>): Promise<void> {
    for (let n = 0; ; n++) {
      try {
        lookups()
        return
      } catch (err) {
        if (!(err instanceof RemoteRefPending)) throw err
        if (n >= MAX_FETCHES) throw new EngineError(`more than ${MAX_FETCHES} values to fetch from other peers (a cycle?)`, undefined, err.target, { cause: err })
        const key = `${err.target}\n${err.ref}`
        try {
          this.#values.set(key, { ok: true, v: fromWire(await ask(err.target, err.ref)) })
        } catch (e) {
          this.#values.set(key, { ok: false, err: e })
        }
      }
    }
  }
}

/** A lookup over several sets of fetched answers (steps of one component may overlap: a `get` during deploy). */
export function lookupIn (sets: Iterable<RemoteValues>, pool?: string): RemoteLookup {
  return (path, ref) => {
    for (const s of sets) {
      const v = s.get(path, ref)
      if (v !== undefined) return v
    }
    throw new RemoteRefPending(path, ref, pool)
  }
}

/**
 * A resolved value as it crosses the wire (and as `get` shows it): a component becomes `{"$component": path}` with
 * its path in the whole pool (`prefix`: this engine pool's path there) and, when known, `"$host"`.
 */
export function toWire (v: Resolved, prefix = '', host?: string): SfJson {
  const abs = (p: string): string => prefix === '' ? p : p === '' ? prefix : `${prefix}:${p}`
  if (v instanceof RemoteNode) return v.host !== undefined ? { $component: v.path, $host: v.host } : { $component: v.path }
  if (v instanceof DataNode) return v.value
  if (isResolveNode(v)) return host !== undefined ? { $component: abs(v.path), $host: host } : { $component: abs(v.path) }
  return v
}

/** A wire value back into the walk's terms: a component reference is a RemoteNode. */
export function fromWire (v: SfJson): Resolved {
  if (typeof v === 'object' && v !== null && !Array.isArray(v) && typeof v.$component === 'string') {
    return new RemoteNode(v.$component, typeof v.$host === 'string' ? v.$host : undefined)
  }
  return v
}
