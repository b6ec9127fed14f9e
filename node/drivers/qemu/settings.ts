import { DriverError } from '../types.ts'
import type { QemuDriverOptions } from './driver.ts'

// Daemon-config settings for the qemu driver (`--driver-setting` style key/values): qemuAccel=kvm|tcg|auto,
// qemuBinary=PATH, qemuProbeKernel=PATH, qemuFirmware=qboot|seabios|PATH, qemuProbeTimeoutMs=N, qemuStartTimeoutMs=N.
export function qemuSettings (settings: Record<string, string | number | boolean> = {}): Partial<QemuDriverOptions> {
  const out: Partial<QemuDriverOptions> = {}
  const accel = settings.qemuAccel
  if (accel !== undefined && accel !== 'auto') {
    if (accel !== 'kvm' && accel !== 'tcg') throw new DriverError('qemu', undefined, `qemuAccel must be kvm, tcg or auto, not ${JSON.stringify(accel)}`)
    out.accel = accel
  }
  if (typeof settings.qemuBinary === 'string') out.binary = settings.qemuBinary
  if (typeof settings.qemuProbeKernel === 'string') out.probeKernel = settings.qemuProbeKernel
  if (typeof settings.qemuFirmware === 'string') out.firmware = settings.qemuFirmware
  for (const [key, opt] of [['qemuProbeTimeoutMs', 'probeTimeoutMs'], ['qemuStartTimeoutMs', 'startTimeoutMs']] as const) {
    const v = settings[key]
    if (v === undefined) continue
    const n = Number(v)
    if (!Number.isInteger(n) || n <= 0) throw new DriverError('qemu', undefined, `${key} must be a positive integer, not ${JSON.stringify(v)}`)
    out[opt] = n
  }
  return out
}
