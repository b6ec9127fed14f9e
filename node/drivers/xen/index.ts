// The Xen (xl) driver: see driver.ts. Register in node/drivers/index.ts as
//   xen: o => new XenDriver({ stateDir: o.stateDir ?? '.', shell: o.shell, capacity: o.capacity,
//                             xl: typeof o.settings?.xl === 'string' ? o.settings.xl : undefined })
export { XenDriver } from './driver.ts'
export type { XenDriverOptions } from './driver.ts'
export { xenCommandLine, xenMac, xlConfig } from './config.ts'
