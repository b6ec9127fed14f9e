import { isIPv6 } from 'node:net'
import type { SfJsonObject } from '../sf/sfjson.ts'
import { attrLabel, components } from './walk.ts'

// Names and addresses from descriptions become hypervisor arguments, guest configuration and DNS-looking strings.
// They go as plain arguments (never through a shell), but a strict syntax check before any command runs still
// keeps option injection ("-x"), separators ("," for QEMU, ":" or "=" for xl), and absurd lengths away from tools.

export type NameKind = 'host-name' | 'domain-name' | 'ipv4' | 'ipv6' | 'ip' | 'netmask' | 'host-or-ip' | 'volume-name' | 'file-name'

export class NameError extends Error {
  override readonly name = 'NameError'
  /** Component path and attribute, e.g. `computer1:domain1 ip`. */
  readonly attr: string
  readonly value: unknown
  readonly kind: NameKind
  constructor (attr: string, value: unknown, kind: NameKind, reason: string) {
    super(`${attr} ${JSON.stringify(typeof value === 'string' ? value.slice(0, 100) : value)}: ${reason}`)
    this.attr = attr
    this.value = value
    this.kind = kind
  }
}

const LABEL = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/

/** RFC 1123 host name: labels of letters, digits and inner hyphens, 1..63 each, 253 in all; one trailing dot allowed. */
export function hostNameProblem (s: string): string | undefined {
  const name = s.endsWith('.') ? s.slice(0, -1) : s
  if (name.length === 0) return 'is empty'
  if (name.length > 253) return `is ${name.length} characters; a host name has at most 253`
  for (const label of name.split('.')) {
    if (label.length > 63) return `has a label of ${label.length} characters; at most 63`
    if (!LABEL.test(label)) return `label ${JSON.stringify(label)} is not letters, digits and inner hyphens (RFC 1123)`
  }
  return undefined
}

/** Hypervisor domain name (xl, libvirt, QEMU -name): starts alphanumeric, then letters, digits, "_", "." and "-". */
export function domainNameProblem (s: string): string | undefined {
  if (s.length === 0 || s.length > 64) return 'must be 1 to 64 characters'
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(s)) return 'must start with a letter or digit and hold only letters, digits, "_", "." and "-"'
  return undefined
}

/** Dotted quad, no leading zeros (which some tools read as octal). */
export function isIPv4 (s: string): boolean {
  const parts = s.split('.')
  return parts.length === 4 && parts.every(p => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255)
}

/** IPv6 without a zone id (a zone names a host interface, not a guest address). */
export function isIPv6Address (s: string): boolean {
  return s.length <= 45 && !s.includes('%') && isIPv6(s)
}

/** Contiguous IPv4 mask (255.255.0.0) or a prefix length 0..32. */
export function isNetmask (s: string): boolean {
  if (/^(0|[1-9][0-9]?)$/.test(s)) return Number(s) <= 32
  if (!isIPv4(s)) return false
  const n = s.split('.').reduce((acc, p) => acc * 256 + Number(p), 0)
  const inverted = (~n) >>> 0
  return (inverted & (inverted + 1)) === 0
}

/** LVM volume and volume-group names: letters, digits, "+_.-", not starting with "-", at most 127. */
export function volumeNameProblem (s: string): string | undefined {
  if (s.length === 0 || s.length > 127) return 'must be 1 to 127 characters'
  if (!/^[A-Za-z0-9+_.][A-Za-z0-9+_.-]*$/.test(s) || s === '.' || s === '..') return 'must hold only letters, digits and "+_.-", not start with "-"'
  return undefined
}

/** One path component (a saved image's name or extension): no "/", no "..", no leading "-". */
export function fileNameProblem (s: string): string | undefined {
  if (s.length === 0 || s.length > 200) return 'must be 1 to 200 characters'
  if (!/^[A-Za-z0-9_][A-Za-z0-9_.+-]*$/.test(s) || s.includes('..')) return 'must be one file name of letters, digits and "_.+-" (no "/", no "..")'
  return undefined
}

export function nameProblem (kind: NameKind, value: unknown): string | undefined {
  if (typeof value !== 'string') return 'must be a string'
  switch (kind) {
    case 'host-name': return hostNameProblem(value)
    case 'domain-name': return domainNameProblem(value)
    case 'ipv4': return isIPv4(value) ? undefined : 'is not an IPv4 address (dotted quad, no leading zeros)'
    case 'ipv6': return isIPv6Address(value) ? undefined : 'is not an IPv6 address'
    case 'ip': return isIPv4(value) || isIPv6Address(value) ? undefined : 'is not an IPv4 or IPv6 address'
    case 'netmask': return isNetmask(value) ? undefined : 'is not a netmask (contiguous dotted quad like 255.255.0.0, or a prefix length 0..32)'
    case 'host-or-ip': return isIPv4(value) || isIPv6Address(value) ? undefined : hostNameProblem(value)
    case 'volume-name': return volumeNameProblem(value)
    case 'file-name': return fileNameProblem(value)
  }
}

/** Throws NameError naming the attribute when the value is not a valid `kind`. */
export function checkName (attr: string, value: unknown, kind: NameKind): string {
  const problem = nameProblem(kind, value)
  if (problem !== undefined) throw new NameError(attr, value, kind, problem)
  return value as string
}

/** Attributes of our components that hold names or addresses, and what each must be. */
export const NAME_ATTRIBUTES: Readonly<Record<string, NameKind>> = {
  hostname: 'host-name',
  domainName: 'domain-name',
  ip: 'ip',
  gateway: 'ip',
  netmask: 'netmask',
  volumeBaseName: 'volume-name',
  volumeGroup: 'volume-name',
  saveImageName: 'file-name',
  saveImageExtension: 'file-name'
}

/**
 * Every name and address of a resolved pool that fails its syntax: `sfProcessHost` on any component, the attributes
 * of NAME_ATTRIBUTES on our components. References (`$ref`, resolved at run time) are skipped here; the engine checks
 * the value when it resolves them (checkName with NAME_ATTRIBUTES[attr]).
 */
export function checkPoolNames (config: SfJsonObject): NameError[] {
  const out: NameError[] = []
  for (const { path, component, ours } of components(config)) {
    const host = component.sfProcessHost
    if (typeof host === 'string') {
      const p = nameProblem('host-or-ip', host)
      if (p !== undefined) out.push(new NameError(attrLabel(path, 'sfProcessHost'), host, 'host-or-ip', p))
    }
    if (!ours) continue
    for (const [attr, kind] of Object.entries(NAME_ATTRIBUTES)) {
      const v = component[attr]
      if (v === undefined || (typeof v === 'object' && v !== null && !Array.isArray(v) && '$ref' in v)) continue
      const p = nameProblem(kind, v)
      if (p !== undefined) out.push(new NameError(attrLabel(path, attr), v, kind, p))
    }
  }
  return out
}
