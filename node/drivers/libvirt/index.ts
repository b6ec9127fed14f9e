// The libvirt (virsh) driver: see driver.ts. Register in node/drivers/index.ts as
//   libvirt: o => new LibvirtDriver({ stateDir: o.stateDir ?? '.', shell: o.shell, clock: o.clock, capacity: o.capacity,
//                                     uri: typeof o.settings?.libvirtUri === 'string' ? o.settings.libvirtUri : undefined })
export { LibvirtDriver } from './driver.ts'
export type { LibvirtDriverOptions } from './driver.ts'
export { domainXml } from './domain-xml.ts'
