import { isAbsolute } from 'node:path'

// Deploy-time checks of values that end up on host command lines or in guest configuration. Anything a description
// (or a peer) writes is refused here unless it has the plain shape expected, so hostile values never travel further.

export const DOMAIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/
const HOSTNAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)*$/
const FILE_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/

export function checkIPv4 (attr: string, v: string): string | undefined {
  const parts = v.split('.')
  const ok = parts.length === 4 && parts.every(p => /^\d{1,3}$/.test(p) && Number(p) <= 255)
  return ok ? undefined : `attribute ${attr}: ${JSON.stringify(v)} is not an IPv4 address`
}

export function checkNetmask (attr: string, v: string): string | undefined {
  const bad = checkIPv4(attr, v)
  if (bad) return bad
  const n = v.split('.').reduce((acc, p) => acc * 256 + Number(p), 0)
  const inv = (~n >>> 0)
  return (inv & (inv + 1)) === 0 ? undefined : `attribute ${attr}: ${JSON.stringify(v)} is not a netmask`
}

export function checkDomainName (attr: string, v: string): string | undefined {
  return DOMAIN_NAME.test(v) ? undefined : `attribute ${attr}: ${JSON.stringify(v)} is not a valid domain name (letters, digits, ".", "_", "-", at most 64, not starting with a symbol)`
}

export function checkHostname (attr: string, v: string): string | undefined {
  return HOSTNAME.test(v) ? undefined : `attribute ${attr}: ${JSON.stringify(v)} is not a valid host name`
}

export function checkFileName (attr: string, v: string): string | undefined {
  return FILE_NAME.test(v) && !v.includes('..') ? undefined : `attribute ${attr}: ${JSON.stringify(v)} is not a plain file name`
}

export function checkAbsolutePath (attr: string, v: string): string | undefined {
  if (!isAbsolute(v) || v.split('/').includes('..') || /[\0\n\r]/.test(v)) return `attribute ${attr}: ${JSON.stringify(v)} must be an absolute path without ".." or control characters`
  return undefined
}

export const IMAGE_EXTENSIONS = ['tar', 'tar.gz', 'tgz'] as const

export function checkImageExtension (attr: string, v: string): string | undefined {
  const ext = v.replace(/^\./, '')
  return (IMAGE_EXTENSIONS as readonly string[]).includes(ext) ? undefined : `attribute ${attr}: ${JSON.stringify(v)} must be one of ${IMAGE_EXTENSIONS.join(', ')}`
}
