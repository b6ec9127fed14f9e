import { isEagerComponent } from '../sf/sfjson.ts'
import type { SfJsonObject } from '../sf/sfjson.ts'

// Walks the components of a resolved pool (sfjson form) without recursion, so a hostile depth cannot overflow the
// stack. Paths are the engine's: attribute names from the root joined by ":", the root itself being "".

export const OUR_CLASS_PREFIX = 'ch.cern.openlab.smartdomains.'
const MAX_COMPONENTS = 100_000

export interface ComponentVisit { path: string, component: SfJsonObject, ours: boolean }

export function * components (config: SfJsonObject): Generator<ComponentVisit> {
  const stack: Array<{ path: string, component: SfJsonObject }> = [{ path: '', component: config }]
  let seen = 0
  while (stack.length > 0) {
    const { path, component } = stack.pop()!
    if (++seen > MAX_COMPONENTS) throw new RangeError(`more than ${MAX_COMPONENTS} components`)
    const cls = component.sfClass
    yield { path, component, ours: typeof cls === 'string' && cls.startsWith(OUR_CLASS_PREFIX) }
    const children = Object.entries(component).filter(([, v]) => isEagerComponent(v)).reverse()
    for (const [name, child] of children) stack.push({ path: path === '' ? name : `${path}:${name}`, component: child as SfJsonObject })
  }
}

/** `computer1:lvm baseImage` (or just `baseImage` at the root): how messages name an attribute. */
export function attrLabel (path: string, attr: string): string {
  return path === '' ? attr : `${path} ${attr}`
}
