import { checkAttribute } from '../sf/schemas.ts'
import type { SfJson } from '../sf/sfjson.ts'

// Type check of `set` values against node/sf/schemas.ts (the same table `sdpeer check` uses).

export type CheckAttribute = (sfClass: string, name: string, value: SfJson) => string | undefined

export const defaultCheckAttribute: CheckAttribute = checkAttribute
