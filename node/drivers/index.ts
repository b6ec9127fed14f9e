import { join } from 'node:path'
import type { Clock } from '../seams/clock.ts'
import type { Shell } from '../seams/shell.ts'
import { DriverError } from './types.ts'
import type { HostCapacity, HypervisorDriver } from './types.ts'
import { SimDriver } from './sim.ts'
import { QemuDriver, qemuSettings } from './qemu/index.ts'
import { XenDriver } from './xen/index.ts'
import { LibvirtDriver } from './libvirt/index.ts'

// Picks a hypervisor driver by its `--driver` name. Adding a driver is one entry in FACTORIES.

export { CapacityParseError, formatCapacity, parseCapacity } from './sim/capacity.ts'
export { SimDriver, DEFAULT_SIM_CAPACITY } from './sim.ts'
export type { SimDriverOptions } from './sim.ts'
export type { SimKnobs } from './sim/knobs.ts'

export interface DriverFactoryOptions {
  /** The daemon's --state-dir; drivers keep their files (sim table, qemu sockets and logs) under it. */
  stateDir?: string
  clock?: Clock
  /** From --capacity; a driver that can measure the host may use it as a cap. */
  capacity?: HostCapacity
  shell?: Shell
  /** Driver settings from the daemon config (for sim: the knob defaults simBootMs, simStartFail, ...). */
  settings?: Record<string, string | number | boolean>
}

type Factory = (options: DriverFactoryOptions) => HypervisorDriver

const FACTORIES: Record<string, Factory> = {
  sim: o => new SimDriver({
    clock: o.clock,
    capacity: o.capacity,
    stateFile: o.stateDir === undefined ? undefined : join(o.stateDir, 'sim-domains.json'),
    knobs: o.settings
  }),
  // As node/drivers/qemu/index.ts asks; its settings (qemuAccel, qemuBinary...) come from the daemon config.
  qemu: o => new QemuDriver({ stateDir: o.stateDir ?? '.', clock: o.clock, capacity: o.capacity, ...qemuSettings(o.settings) }),
  // As node/drivers/xen/index.ts asks; `xl` (the program) may come from the daemon config.
  xen: o => new XenDriver({ stateDir: o.stateDir ?? '.', shell: o.shell, capacity: o.capacity, xl: typeof o.settings?.xl === 'string' ? o.settings.xl : undefined }),
  // `virsh` against the libvirt URI from the daemon config (default: libvirt's own default, qemu:///system).
  libvirt: o => new LibvirtDriver({
    stateDir: o.stateDir ?? '.',
    shell: o.shell,
    clock: o.clock,
    capacity: o.capacity,
    uri: typeof o.settings?.libvirtUri === 'string' ? o.settings.libvirtUri : undefined,
    domainType: libvirtDomainType(o.settings?.libvirtDomainType)
  })
}

/** The settings each driver reads (`sdpeer join --driver-opt KEY=VALUE`); any other key is refused, not ignored. */
export const DRIVER_SETTINGS: Readonly<Record<string, readonly string[]>> = {
  sim: ['simBootMs', 'simShutdownMs', 'simIgnoreShutdown', 'simStartFail', 'simCrashAfterMs'],
  qemu: ['qemuAccel', 'qemuBinary', 'qemuFirmware', 'qemuProbeKernel', 'qemuProbeTimeoutMs', 'qemuStartTimeoutMs'],
  xen: ['xl'],
  libvirt: ['libvirtUri', 'libvirtDomainType']
}

function libvirtDomainType (v: string | number | boolean | undefined): 'kvm' | 'qemu' | undefined {
  if (v === undefined) return undefined
  if (v !== 'kvm' && v !== 'qemu') throw new DriverError('libvirt', undefined, `libvirtDomainType must be kvm or qemu (TCG), not ${JSON.stringify(v)}`)
  return v
}

export function driverNames (): string[] {
  return Object.keys(FACTORIES).sort()
}

export function createDriver (name: string, options: DriverFactoryOptions = {}): HypervisorDriver {
  const factory = Object.hasOwn(FACTORIES, name) ? FACTORIES[name] : undefined
  if (factory === undefined) throw new DriverError(name, undefined, `unknown driver (known: ${driverNames().join(', ')})`)
  const known = DRIVER_SETTINGS[name] ?? []
  for (const key of Object.keys(options.settings ?? {})) {
    if (!known.includes(key)) throw new DriverError(name, undefined, `unknown setting ${JSON.stringify(key)} (this driver reads: ${known.join(', ')})`)
  }
  return factory(options)
}
