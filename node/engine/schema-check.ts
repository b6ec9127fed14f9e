import type { SfJson } from '../sf/sfjson.ts'

// Type check of `set` values. The schema table belongs to node/sf/schemas.ts (checkAttribute(sfClass, name, value));
// until it lands this small table of the attributes that can usefully change at run time stands in for it.

export type CheckAttribute = (sfClass: string, name: string, value: SfJson) => string | undefined

const BOOLEAN = ['saveImage', 'keepVolumes', 'usingExistingVolumes', 'makeFs', 'domainLivenessCheck', 'sfSyncTerminate']
const INTEGER = ['memory', 'vcpus', 'domainLivenessDelay', 'domainLivenessFactor', 'sfLivenessFactor', 'shutdownTimeout']
const NUMBER = ['sfLivenessDelay']
const STRING = ['saveImagePath', 'saveImageName', 'saveImageExtension', 'domainName', 'hostname', 'ip', 'netmask',
  'gateway', 'kernel', 'ramdisk', 'extra', 'baseImage', 'volumeGroup', 'volumeBaseName', 'tempMountPoint']

export const fallbackCheckAttribute: CheckAttribute = (_sfClass, name, value) => {
  if (BOOLEAN.includes(name)) {
    return typeof value === 'boolean' || value === 'true' || value === 'false' ? undefined : `attribute ${name} expects a Boolean, found ${JSON.stringify(value)}`
  }
  if (INTEGER.includes(name)) {
    return typeof value === 'number' && Number.isInteger(value) ? undefined : `attribute ${name} expects an Integer, found ${JSON.stringify(value)}`
  }
  if (NUMBER.includes(name)) {
    return typeof value === 'number' ? undefined : `attribute ${name} expects a number, found ${JSON.stringify(value)}`
  }
  if (STRING.includes(name)) {
    return typeof value === 'string' ? undefined : `attribute ${name} expects a String, found ${JSON.stringify(value)}`
  }
  return undefined
}

/** node/sf/schemas.ts's checkAttribute when it exists, else the fallback table. */
export async function loadCheckAttribute (): Promise<CheckAttribute> {
  try {
    const mod = await import(String(new URL('../sf/schemas.ts', import.meta.url))) as { checkAttribute?: CheckAttribute }
    if (typeof mod.checkAttribute === 'function') return mod.checkAttribute
  } catch { /* not there yet */ }
  return fallbackCheckAttribute
}
