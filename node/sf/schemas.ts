import { SF_CLASS } from './component-classes.ts'
import type { SfJson } from './sfjson.ts'
import { isRef } from './sfjson.ts'
import { isImageRefValue } from '../../protocol/image-names.ts'

// The attributes of sdpeer's components, keyed by sfClass: type, required-ness, default, whether the attribute acts
// at termination, and a validator for values that are well typed but cannot deploy. `sdpeer check` applies it to
// every resolved component whose sfClass is ours (errors SF81xx, warnings SF9xxx); the engine applies
// `checkAttribute` to `sdpeer set`. The bundled library (ch/cern/openlab/smartdomains/components.sf) gives the
// same defaults as values.

export type AttrType = 'string' | 'integer' | 'boolean' | 'size' | 'reference' | 'vector' | 'any'

export interface AttrSchema {
  type: AttrType
  required: boolean
  default?: SfJson
  /** Read when the component terminates (saving images, keeping volumes): changing it later matters. */
  atTermination?: boolean
  doc: string
  /** Text of a problem with a well-typed value that cannot deploy (warning at check time), or undefined. */
  validate?: (v: SfJson) => string | undefined
}

export interface ComponentSchema {
  sfClass: string
  name: string
  attrs: Readonly<Record<string, AttrSchema>>
  /** Unknown attributes are reported (a misspelt `memroy` would otherwise be silently ignored). */
  closed: boolean
}

/** Dotted quad with each part 0-255 (one pass over the characters: it runs for every VM of a pool). */
function isIPv4 (v: string): boolean {
  let parts = 0
  let digits = 0
  let value = 0
  for (let i = 0; i <= v.length; i++) {
    const c = i < v.length ? v.charCodeAt(i) : 46
    if (c === 46) {
      if (digits === 0 || value > 255) return false
      parts++
      digits = 0
      value = 0
    } else if (c >= 48 && c <= 57 && digits < 3) {
      digits++
      value = value * 10 + (c - 48)
    } else {
      return false
    }
  }
  return parts === 4
}

const ipv4 = (v: SfJson): string | undefined =>
  typeof v !== 'string' || isIPv4(v) ? undefined : `${JSON.stringify(v)} is not an IPv4 address`

const netmask = (v: SfJson): string | undefined => {
  const bad = ipv4(v)
  if (bad !== undefined || typeof v !== 'string') return bad
  let bits = 0
  for (const o of v.split('.')) bits = bits * 256 + Number(o)
  const inverted = (~bits) >>> 0
  return (inverted & (inverted + 1)) === 0 ? undefined : `${JSON.stringify(v)} is not a contiguous netmask`
}

const hostname = (v: SfJson): string | undefined =>
  typeof v === 'string' && /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/.test(v)
    ? undefined : `${JSON.stringify(v)} is not a valid host name`

const absolutePath = (v: SfJson): string | undefined =>
  typeof v === 'string' && !v.startsWith('/') ? `${JSON.stringify(v)} is not an absolute path on the host` : undefined

// `image:NAME` or `image:ID-PREFIX` names an image of the warehouse (node/images), fetched from the mesh if missing.
const baseImageRef = (v: SfJson): string | undefined =>
  typeof v === 'string' && v.startsWith('image:')
    ? isImageRefValue(v) ? undefined : `${JSON.stringify(v)} is not an image reference (image:NAME or image:ID, see \`sdpeer image ls\`)`
    : absolutePath(v)

const positive = (v: SfJson): string | undefined => typeof v === 'number' && v <= 0 ? `${v} must be positive` : undefined
const port = (v: SfJson): string | undefined => typeof v === 'number' && (v < 1 || v > 65535) ? `${v} is not a TCP port (1-65535)` : undefined

/** Size in MiB of an Integer (MiB) or a String like "512M", "1G", "1.5T"; undefined when malformed. */
export function sizeMiB (v: SfJson): number | undefined {
  if (typeof v === 'number') return Number.isInteger(v) && v >= 0 ? v : undefined
  if (typeof v !== 'string') return undefined
  const m = /^([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?)i?B?$/i.exec(v.trim())
  if (m === null) return undefined
  const unit = { '': 1, K: 1 / 1024, M: 1, G: 1024, T: 1024 * 1024 }[m[2]!.toUpperCase() as '' | 'K' | 'M' | 'G' | 'T']
  return Number(m[1]) * unit
}

const nonZeroSize = (v: SfJson): string | undefined => sizeMiB(v) === 0 ? 'a size of 0 cannot deploy' : undefined

const COMMON: Record<string, AttrSchema> = {
  sfClass: { type: 'string', required: true, doc: 'implementation of the component' },
  sfCodeBase: { type: 'any', required: false, doc: 'SmartFrog code base (ignored by sdpeer)' },
  sfProcessHost: { type: 'string', required: false, doc: 'host (peer) that deploys this subtree' },
  sfProcessName: { type: 'string', required: false, doc: 'SmartFrog sub-process name (ignored by sdpeer)' },
  sfLivenessDelay: { type: 'integer', required: false, doc: 'seconds between liveness pings', validate: positive },
  sfLivenessFactor: { type: 'integer', required: false, doc: 'missed pings before failure', validate: positive },
  sfSyncTerminate: { type: 'boolean', required: false, default: false, doc: 'terminate children one by one, in reverse order' },
  sfLog: { type: 'any', required: false, doc: 'log name' },
  sfUpdatable: { type: 'boolean', required: false, doc: 'accepts runtime description updates' }
}

const XEN: Record<string, AttrSchema> = {
  ...COMMON,
  shell: { type: 'reference', required: false, doc: 'LAZY link to the host shell (BashShell)' },
  storageBackend: { type: 'reference', required: false, doc: 'LAZY link to the storage backend holding the root volume' },
  kernel: { type: 'string', required: true, doc: 'guest kernel image (host path)', validate: absolutePath },
  ramdisk: { type: 'string', required: false, doc: 'guest initrd (host path)', validate: absolutePath },
  memory: { type: 'size', required: false, default: 512, doc: 'RAM in MiB (Integer) or a size String', validate: nonZeroSize },
  vcpus: { type: 'integer', required: false, default: 1, doc: 'virtual CPUs', validate: positive },
  ip: { type: 'string', required: true, doc: 'guest IPv4 address', validate: ipv4 },
  netmask: { type: 'string', required: false, doc: 'guest netmask', validate: netmask },
  gateway: { type: 'string', required: false, doc: 'guest default gateway', validate: ipv4 },
  hostname: { type: 'string', required: true, doc: 'guest host name', validate: hostname },
  extra: { type: 'string', required: false, default: '', doc: 'extra kernel command line' },
  domainName: { type: 'string', required: false, doc: 'domain name (SmartDomains: useless since 0.9.02)' },
  domainLivenessCheck: { type: 'boolean', required: false, default: true, doc: 'watch that the domain runs' },
  domainLivenessDelay: { type: 'integer', required: false, default: 2000, doc: 'ms between domain checks', validate: positive },
  domainLivenessFactor: { type: 'integer', required: false, default: 3, doc: 'missed checks before the domain is dead', validate: positive },
  // Options our drivers read (node/components/xen-domain.ts passes them on; examples/qemu/twoGuests.sf uses them).
  shutdownTimeout: { type: 'integer', required: false, doc: 'ms for a clean power-off before the guest is stopped', validate: positive },
  guestPort: { type: 'integer', required: false, doc: 'qemu user networking: guest TCP port reached from the host', validate: port },
  forwardPort: { type: 'integer', required: false, doc: 'qemu user networking: host port on 127.0.0.1 forwarded to guestPort', validate: port },
  accel: { type: 'string', required: false, doc: 'qemu accelerator (kvm, tcg)' },
  network: { type: 'string', required: false, doc: 'driver network mode' },
  tap: { type: 'string', required: false, doc: 'host tap device' },
  bridge: { type: 'string', required: false, doc: 'host bridge' },
  netns: { type: 'string', required: false, doc: 'host network namespace' },
  mac: { type: 'string', required: false, doc: 'guest MAC address' },
  xenType: { type: 'string', required: false, doc: 'Xen guest type' },
  saveImage: { type: 'boolean', required: false, doc: 'save the root file system when the pool is terminated (done by its storage backend)' }
}

const STORAGE: Record<string, AttrSchema> = {
  ...COMMON,
  shell: { type: 'reference', required: false, doc: 'LAZY link to the host shell (BashShell)' },
  domainName: { type: 'string', required: false, doc: 'domain the volumes belong to (names them)' },
  baseImage: { type: 'string', required: false, doc: 'image copied into the new root volume: a host path or image:NAME / image:ID from the warehouse (required unless usingExistingVolumes)', validate: baseImageRef },
  volumeBaseName: { type: 'string', required: false, doc: 'prefix of volume / image file names' },
  volumeSize: { type: 'size', required: false, default: '1G', doc: 'root volume size', validate: nonZeroSize },
  swapSize: { type: 'size', required: false, default: '512M', doc: 'swap volume size' },
  makeFs: { type: 'boolean', required: false, default: true, doc: 'make a filesystem before copying the base image' },
  usingExistingVolumes: { type: 'boolean', required: false, default: false, doc: 'reuse the volumes of a previous run' },
  tempMountPoint: { type: 'string', required: false, doc: 'where the volume is mounted while copying', validate: absolutePath },
  keepVolumes: { type: 'boolean', required: false, default: false, atTermination: true, doc: 'keep the volumes on termination' },
  saveImage: { type: 'boolean', required: false, default: false, atTermination: true, doc: 'save the filesystem as an image on termination' },
  saveImagePath: { type: 'string', required: false, atTermination: true, doc: 'directory of the saved image', validate: absolutePath },
  saveImageName: { type: 'string', required: false, atTermination: true, doc: 'file name of the saved image' },
  saveImageExtension: { type: 'string', required: false, default: 'tar.gz', atTermination: true, doc: 'extension of the saved image' }
}

const TABLE: Record<string, ComponentSchema> = {}
function define (name: keyof typeof SF_CLASS, attrs: Record<string, AttrSchema>, closed: boolean): void {
  TABLE[SF_CLASS[name]] = { sfClass: SF_CLASS[name], name, attrs, closed }
}
define('Prim', COMMON, false)
define('Compound', COMMON, false)
define('Parallel', {
  ...COMMON,
  asynchCreateChild: { type: 'boolean', required: false, default: false, doc: 'deploy each child in its own thread' },
  terminateOnEmptyDeploy: { type: 'boolean', required: false, default: false, doc: 'terminate at once without children' },
  terminateOnAbnormalChildTermination: { type: 'boolean', required: false, default: true, doc: 'an abnormal child ends the Parallel' },
  terminateOnAbnormalChildDeploy: { type: 'boolean', required: false, default: true, doc: 'a failed child deploy ends the Parallel' },
  sfShouldTerminate: { type: 'boolean', required: false, default: true, doc: 'terminate once all children have' }
}, false)
define('BashShell', { ...COMMON, exec: { type: 'any', required: false, doc: 'the shell program (DATA component)' } }, false)
define('DeployManagement', COMMON, false)
define('XenDomain', XEN, true)
define('LVMStorageBackend', { ...STORAGE, volumeGroup: { type: 'string', required: false, doc: 'LVM volume group' } }, true)
define('LoopbackStorageBackend', STORAGE, true)
define('CowStorageBackend', { ...STORAGE, baseImage: { ...STORAGE.baseImage!, required: true, doc: 'read-only base image under the qcow2 overlay' } }, true)
define('Scheduler', {
  ...COMMON,
  hosts: { type: 'vector', required: false, doc: 'host names the scheduler may place VMs on (every live host when absent)', validate: v => Array.isArray(v) && v.some(h => typeof h !== 'string') ? 'hosts must be a vector of host names' : undefined }
}, true)
define('Schedulee', { ...COMMON, scheduler: { type: 'reference', required: true, doc: 'LAZY link to the Scheduler' } }, false)

export function schemaFor (sfClass: string): ComponentSchema | undefined { return TABLE[sfClass] }

export interface TypeCheck {
  error?: string
  /** Accepted with a warning: "true"/"false" Strings for Booleans (lvmVm.sf writes keepVolumes "false"). */
  warning?: string
}

/** Checks the type of one value against its declared type. LAZY references are accepted (known at run time). */
const FINE: TypeCheck = Object.freeze({})

export function typeCheck (type: AttrType, value: SfJson): TypeCheck {
  if (isRef(value)) return type === 'reference' || /^LAZY\b/.test(value.$ref) ? FINE : { error: `expected a LAZY reference, found ${value.$ref}` }
  switch (type) {
    case 'any': return FINE
    case 'reference': return { error: `expected a LAZY reference (e.g. LAZY ATTRIB myShell), found ${show(value)}` }
    case 'string': return typeof value === 'string' ? FINE : { error: `expected a String, found ${show(value)}` }
    case 'integer': return typeof value === 'number' && Number.isInteger(value) ? FINE : { error: `expected an Integer, found ${show(value)}` }
    case 'boolean':
      if (typeof value === 'boolean') return FINE
      if (value === 'true' || value === 'false') return { warning: `the String ${JSON.stringify(value)} is taken as the Boolean ${value}; write ${value} without quotes` }
      return { error: `expected a Boolean, found ${show(value)}` }
    case 'size':
      return sizeMiB(value) !== undefined ? FINE : { error: `expected a size (Integer MiB or a String like "512M", "1G"), found ${show(value)}` }
    case 'vector': return Array.isArray(value) ? FINE : { error: `expected a vector, found ${show(value)}` }
  }
}

function show (v: SfJson): string {
  if (typeof v === 'string') return `the String ${JSON.stringify(v)}`
  if (typeof v === 'number') return Number.isInteger(v) ? `the number ${v}` : `the number ${v}`
  if (typeof v === 'boolean') return `the Boolean ${v}`
  if (v === null) return 'NULL'
  if (Array.isArray(v)) return 'a vector'
  return 'a component'
}

/** Error text for `name = value` on a component of class `sfClass` (for `sdpeer set`), or undefined when fine. */
export function checkAttribute (sfClass: string, name: string, value: SfJson): string | undefined {
  const schema = schemaFor(sfClass)
  if (schema === undefined) return undefined
  const a = schema.attrs[name]
  if (a === undefined) return schema.closed ? `${schema.name} has no attribute ${name}` : undefined
  const t = typeCheck(a.type, value)
  if (t.error !== undefined) return `${name}: ${t.error}`
  if (isRef(value)) return undefined
  const bad = a.validate?.(value)
  return bad === undefined ? undefined : `${name}: ${bad}`
}
