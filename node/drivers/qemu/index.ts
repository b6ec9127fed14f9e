// The qemu/KVM driver: see driver.ts. Register in node/drivers/index.ts as
//   qemu: o => new QemuDriver({ stateDir: o.stateDir ?? '.', clock: o.clock, capacity: o.capacity, ...qemuSettings(o.settings) })
export { QemuDriver } from './driver.ts'
export type { QemuDriverOptions } from './driver.ts'
export { qemuSettings } from './settings.ts'
export { kernelCommandLine, macFor, qemuArgs } from './cmdline.ts'
export type { Accel } from './cmdline.ts'
export { QmpError, QmpSession, qmpCommand } from './qmp.ts'
