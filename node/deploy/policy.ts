import { checkName, checkPoolNames, NAME_ATTRIBUTES, NameError } from '../security/names.ts'
import { checkPath, checkPoolPaths, PATH_ATTRIBUTES, PathPolicyError } from '../security/paths.ts'
import type { AllowedPaths } from '../security/paths.ts'
import type { SfJson, SfJsonObject } from '../sf/sfjson.ts'

// Host policy at prepare: what a description may touch on this host (SECURITY.md). Each owner checks the parts it
// is asked to deploy, before its engine reserves anything: paths inside the host's --allow-path directories, names
// and addresses of valid syntax. A problem refuses the prepare, so the whole deploy aborts with nothing deployed
// anywhere; the reason names the pool path of the attribute and its value.

/** Problems of the parts (empty: they may run here). A pool deployed on this host alone is one part at path "". */
export type PartPolicy = (pool: string, parts: ReadonlyArray<{ path: string, config: SfJsonObject }>) => Promise<string[]>

/** A runtime change (`sdpeer set`) of a path or name attribute: the problem, or undefined when allowed. */
export type SetPolicy = (pool: string, path: string, attr: string, value: SfJson) => Promise<string | undefined>

/** Thrown by callers that check a pool or a change outside the two-phase deploy (a local deploy, a set). */
export class HostPolicyError extends Error {
  override readonly name = 'HostPolicyError'
  readonly pool: string
  readonly problems: string[]
  constructor (pool: string, problems: string[]) {
    super(`${pool}: host policy refuses ${problems.length === 1 ? 'an attribute' : `${problems.length} attributes`}: ${problems.join('; ')}`)
    this.pool = pool
    this.problems = problems
  }
}

/**
 * The security checks label attributes relative to the part (`lvm baseImage` below its root, `baseImage` at it);
 * messages name them from the pool's root (`computer1:lvm baseImage`).
 */
function absolute (partPath: string, err: { attr: string, message: string }): string {
  const rest = err.message.startsWith(err.attr) ? err.message.slice(err.attr.length) : ` ${err.message}`
  if (partPath === '') return `${err.attr}${rest}`
  return `${err.attr.includes(' ') ? `${partPath}:${err.attr}` : `${partPath} ${err.attr}`}${rest}`
}

export function hostPolicy (allowed: AllowedPaths): PartPolicy {
  return async (_pool, parts) => {
    const out: string[] = []
    for (const part of parts) {
      for (const e of checkPoolNames(part.config)) out.push(absolute(part.path, e))
      for (const e of await checkPoolPaths(part.config, allowed)) out.push(absolute(part.path, e))
    }
    return out
  }
}

/**
 * The same rules for `sdpeer set`: a path attribute must stay inside the allowed directories, a name attribute
 * valid. Attributes are matched by name whatever the component's class (the owner's engine knows the class; a
 * stricter check costs nothing here).
 */
export function setPolicy (allowed: AllowedPaths): SetPolicy {
  return async (_pool, path, attr, value) => {
    const label = path === '' ? attr : `${path} ${attr}`
    try {
      const mode = Object.hasOwn(PATH_ATTRIBUTES, attr) ? PATH_ATTRIBUTES[attr] : undefined
      if (mode !== undefined) await checkPath(label, value, mode, allowed)
      const kind = Object.hasOwn(NAME_ATTRIBUTES, attr) ? NAME_ATTRIBUTES[attr] : attr === 'sfProcessHost' ? 'host-or-ip' : undefined
      if (kind !== undefined) checkName(label, value, kind)
    } catch (err) {
      if (err instanceof PathPolicyError || err instanceof NameError) return err.message
      throw err
    }
    return undefined
  }
}
