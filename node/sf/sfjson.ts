// The resolved `sfConfig` as plain JSON: what `sdpeer check --json` prints, what the engine deploys and what crosses
// the wire between peers. Attributes keep their order (JSON objects keep insertion order for non-integer keys;
// the resolver refuses attribute names that are canonical integers, which JavaScript would reorder).
//
//   number, string, boolean, null  -> themselves (Integer, Long, Float, Double all become numbers)
//   [| ... |] and [ ... ] vectors   -> arrays
//   component description (CD)      -> object of its attributes; `extends DATA`/`LAZY` CDs carry "$data": true first
//   LAZY or DATA reference          -> { "$ref": "LAZY ATTRIB myShell" }   (its text as written)
//   LAZY APPLY / LAZY ASSERT        -> { "$apply": { ...attrs } } / { "$assert": { ...attrs } }
//   byte array                      -> { "$bytes": "#HEX#0a0b#" }
// Every other key of ours starts with "$" too; attribute names never do (a `$` name is refused).

export type SfJson = null | boolean | number | string | SfJson[] | SfJsonObject
export interface SfJsonObject { [name: string]: SfJson }

export function isRef (v: SfJson): v is { $ref: string } {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && typeof v.$ref === 'string'
}

/** A component description (eager or not), as opposed to a vector or one of the `$` value forms. */
export function isComponent (v: SfJson): v is SfJsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v) &&
    !('$ref' in v) && !('$apply' in v) && !('$assert' in v) && !('$bytes' in v)
}

/** A CD that a Compound deploys as a child: eager (not `extends DATA`/`LAZY`). */
export function isEagerComponent (v: SfJson): v is SfJsonObject {
  return isComponent(v) && v.$data !== true
}
