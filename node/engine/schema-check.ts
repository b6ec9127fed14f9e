import { checkAttribute } from '../sf/schemas.ts'
import { SF_CLASS } from '../sf/component-classes.ts'
import type { SfJson } from '../sf/sfjson.ts'

// Type check of `set` values against node/sf/schemas.ts (the same table `sdpeer check` uses).

export type CheckAttribute = (sfClass: string, name: string, value: SfJson) => string | undefined

/**
 * Attributes that act when a VM's storage goes away. Set on a XenDomain (`sdpeer set POOL:domain1 saveImage true`,
 * issue 3) they apply to its storage backend at termination, so they are checked as the backend's attributes.
 */
export const TERMINATION_ATTRS: ReadonlySet<string> = new Set(['saveImage', 'saveImagePath', 'saveImageName', 'saveImageExtension', 'keepVolumes'])

export const defaultCheckAttribute: CheckAttribute = (sfClass, name, value) => {
  // The XenDomain schema (node/sf/schemas.ts) is closed and does not list them yet.
  if (sfClass === SF_CLASS.XenDomain && TERMINATION_ATTRS.has(name)) return checkAttribute(SF_CLASS.LoopbackStorageBackend, name, value)
  return checkAttribute(sfClass, name, value)
}
