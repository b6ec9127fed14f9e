import { createHash } from 'node:crypto'
import { resolve } from 'node:path'
import { DriverError } from '../types.ts'
import type { DiskSpec, DomainSpec } from '../types.ts'

// The qemu-system-x86_64 command line for one domain, as a pure function of the spec, so contract tests can pin it
// and the benchmark can start the very same command by hand. Every value lands in its own argv element; values
// that qemu itself splits on commas (file and socket paths) get their commas doubled, and values that reach the
// guest kernel command line (hostname, addresses) are checked so they cannot smuggle in extra kernel parameters.

export type Accel = 'kvm' | 'tcg'
export type NetworkMode = 'user' | 'tap' | 'bridge' | 'none'

export interface QemuPaths {
  qmpSocket: string
  serialLog: string
}

/** The driver-specific options a description may set (DomainSpec.options), validated. */
export interface QemuDomainOptions {
  accel?: Accel
  network: NetworkMode
  /** user mode: 127.0.0.1:forwardPort on the host reaches guestPort in the guest. */
  forwardPort?: number
  guestPort: number
  bridge?: string
  tap?: string
  mac: string
  /** Run qemu inside this network namespace (`ip netns exec`), where its tap device lives. */
  netns?: string
}

const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/
const HOSTNAME = /^[A-Za-z0-9]([A-Za-z0-9.-]{0,252})$/
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/
const NETNS = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}$/

const fail = (spec: DomainSpec, message: string): never => { throw new DriverError('qemu', spec.name, message) }

function port (spec: DomainSpec, key: string, value: unknown): number {
  const n = typeof value === 'string' && /^[0-9]+$/.test(value) ? Number(value) : value
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 1 || n > 65535) fail(spec, `option ${key} must be a port number, not ${JSON.stringify(value)}`)
  return n as number
}

/** A stable locally administered MAC from the domain name, so a guest keeps its address across restarts. */
export function macFor (name: string): string {
  const h = createHash('sha256').update(name).digest()
  return ['52', '54', '00', h[0], h[1], h[2]].map(b => typeof b === 'number' ? b.toString(16).padStart(2, '0') : b).join(':')
}

export function domainOptions (spec: DomainSpec): QemuDomainOptions {
  const o = spec.options
  const accel = o.accel
  if (accel !== undefined && accel !== 'kvm' && accel !== 'tcg') fail(spec, `option accel must be "kvm" or "tcg", not ${JSON.stringify(accel)}`)
  const network = o.network ?? 'user'
  if (network !== 'user' && network !== 'tap' && network !== 'bridge' && network !== 'none') {
    fail(spec, `option network must be user, tap, bridge or none, not ${JSON.stringify(network)}`)
  }
  const result: QemuDomainOptions = {
    network: network as NetworkMode,
    guestPort: o.guestPort === undefined ? 80 : port(spec, 'guestPort', o.guestPort),
    mac: macFor(spec.name)
  }
  if (accel !== undefined) result.accel = accel as Accel
  if (o.forwardPort !== undefined) result.forwardPort = port(spec, 'forwardPort', o.forwardPort)
  for (const key of ['bridge', 'tap'] as const) {
    const v = o[key]
    if (v === undefined) continue
    if (typeof v !== 'string' || !IFNAME.test(v)) fail(spec, `option ${key} must be an interface name, not ${JSON.stringify(v)}`)
    result[key] = v as string
  }
  if (o.netns !== undefined) {
    if (typeof o.netns !== 'string' || !NETNS.test(o.netns)) fail(spec, `option netns must be a network namespace name, not ${JSON.stringify(o.netns)}`)
    result.netns = o.netns as string
  }
  if (o.mac !== undefined) {
    if (typeof o.mac !== 'string' || !MAC.test(o.mac.toLowerCase())) fail(spec, `option mac must look like 52:54:00:12:34:56, not ${JSON.stringify(o.mac)}`)
    result.mac = (o.mac as string).toLowerCase()
  }
  if (result.network === 'bridge' && result.bridge === undefined) fail(spec, 'network bridge needs option bridge (the host bridge name)')
  if (result.network === 'tap' && result.tap === undefined) fail(spec, 'network tap needs option tap (an existing tap interface)')
  return result
}

function ipv4 (spec: DomainSpec, what: string, value: string): number {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(value)
  const parts = m === null ? [] : m.slice(1).map(Number)
  if (parts.length !== 4 || parts.some(p => p > 255)) fail(spec, `${what} is not an IPv4 address: ${JSON.stringify(value)}`)
  return ((parts[0]! << 24) | (parts[1]! << 16) | (parts[2]! << 8) | parts[3]!) >>> 0
}

const dotted = (n: number): string => [24, 16, 8, 0].map(s => (n >>> s) & 255).join('.')

function prefixLength (spec: DomainSpec, mask: number): number {
  const len = mask === 0 ? 0 : 32 - Math.log2((~mask >>> 0) + 1)
  if (!Number.isInteger(len)) fail(spec, `netmask ${dotted(mask)} is not contiguous`)
  return len
}

/** qemu's option parser splits on ',' and reads ',,' as a literal comma. */
export const escapeOpt = (value: string): string => value.replaceAll(',', ',,')

/** The guest device name of the i-th virtio disk: vda, vdb, ... */
const virtioName = (i: number): string => `vd${String.fromCharCode(97 + i)}`

export function kernelCommandLine (spec: DomainSpec): string {
  const parts = ['console=ttyS0']
  if (spec.hostname !== undefined) {
    if (!HOSTNAME.test(spec.hostname)) fail(spec, `hostname ${JSON.stringify(spec.hostname)} is not a host name`)
    parts.push(`sdpeer.hostname=${spec.hostname}`)
  }
  const net: Array<[string, string | undefined]> = [['ip', spec.ip], ['netmask', spec.netmask], ['gateway', spec.gateway]]
  for (const [key, value] of net) {
    if (value === undefined) continue
    ipv4(spec, key, value)
    parts.push(`sdpeer.${key}=${value}`)
  }
  // The same in the kernel's/initramfs-tools' `ip=` form, for ordinary distribution guests.
  if (spec.ip !== undefined) {
    parts.push(`ip=${spec.ip}::${spec.gateway ?? ''}:${spec.netmask ?? ''}:${spec.hostname ?? ''}::off`)
  }
  const rootIndex = spec.disks.findIndex(d => d.role === 'root')
  if (rootIndex >= 0 && !/(^|\s)root=/.test(spec.extra ?? '')) parts.push(`root=/dev/${virtioName(rootIndex)}`)
  if (spec.extra !== undefined && spec.extra.trim() !== '') parts.push(spec.extra.trim())
  return parts.join(' ')
}

function driveArgs (disk: DiskSpec): string[] {
  const opts = [`file=${escapeOpt(resolve(disk.path))}`, `format=${disk.format}`, 'if=virtio']
  if (disk.readonly === true) opts.push('readonly=on')
  return ['-drive', opts.join(',')]
}

function userNetdev (spec: DomainSpec, o: QemuDomainOptions): string {
  const opts = ['user', 'id=net0']
  let guestAddr = ''
  if (spec.ip !== undefined) {
    // Put slirp's virtual network around the guest's own address so the address the description gives works.
    const ip = ipv4(spec, 'ip', spec.ip)
    const mask = ipv4(spec, 'netmask', spec.netmask ?? '255.255.255.0')
    const len = prefixLength(spec, mask)
    if (len > 29) fail(spec, `netmask ${dotted(mask)} leaves no room for user-mode networking (need /29 or larger)`)
    opts.push(`net=${dotted((ip & mask) >>> 0)}/${len}`)
    if (spec.gateway !== undefined && ((ipv4(spec, 'gateway', spec.gateway) & mask) >>> 0) === ((ip & mask) >>> 0)) {
      opts.push(`host=${spec.gateway}`)
    }
    guestAddr = spec.ip
  }
  if (o.forwardPort !== undefined) opts.push(`hostfwd=tcp:127.0.0.1:${o.forwardPort}-${guestAddr}:${o.guestPort}`)
  return opts.join(',')
}

/** Arguments after the program name. `firmware`: a -bios image (the driver picks qboot for direct kernel boots). */
export function qemuArgs (spec: DomainSpec, paths: QemuPaths, accel: Accel, firmware?: string): string[] {
  const o = domainOptions(spec)
  if (!Number.isInteger(spec.memoryMiB) || spec.memoryMiB < 16) fail(spec, `memory must be at least 16 MiB, not ${spec.memoryMiB}`)
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1) fail(spec, `vcpus must be a positive integer, not ${spec.vcpus}`)
  const args = [
    '-name', `guest=${spec.name}`,
    '-machine', 'pc', '-accel', accel,
    ...(accel === 'kvm' ? ['-cpu', 'host'] : []),
    '-m', String(spec.memoryMiB), '-smp', String(spec.vcpus),
    '-nodefaults', '-no-user-config', '-display', 'none',
    // A guest reset or power-off stops the VM but keeps qemu, so the driver can tell "powered off" from "died";
    // a kernel panic reported through pvpanic pauses it as guest-panicked, so it is seen as crashed.
    '-no-reboot', '-no-shutdown', '-device', 'pvpanic', '-action', 'panic=pause'
  ]
  if (firmware !== undefined) args.push('-bios', resolve(firmware))
  if (spec.kernel !== undefined) {
    args.push('-kernel', resolve(spec.kernel))
    if (spec.ramdisk !== undefined) args.push('-initrd', resolve(spec.ramdisk))
    args.push('-append', kernelCommandLine(spec))
  } else if (spec.ramdisk !== undefined) {
    fail(spec, 'a ramdisk needs a kernel')
  }
  for (const disk of spec.disks) args.push(...driveArgs(disk))
  if (o.network === 'user') args.push('-netdev', userNetdev(spec, o))
  if (o.network === 'tap') args.push('-netdev', `tap,id=net0,ifname=${o.tap},script=no,downscript=no`)
  if (o.network === 'bridge') args.push('-netdev', `bridge,id=net0,br=${o.bridge}`)
  if (o.network !== 'none') args.push('-device', `virtio-net-pci,netdev=net0,mac=${o.mac}`)
  args.push(
    '-chardev', `file,id=serial0,path=${escapeOpt(paths.serialLog)}`, '-serial', 'chardev:serial0',
    '-chardev', `socket,id=qmp0,path=${escapeOpt(paths.qmpSocket)},server=on,wait=off`, '-mon', 'chardev=qmp0,mode=control'
  )
  return args
}
