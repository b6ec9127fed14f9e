import { describe, expect, it } from 'vitest'
import { createDriver, DRIVER_SETTINGS } from '../../node/drivers/index.ts'

// `sdpeer join --driver-opt KEY=VALUE` reaches the driver factories: a key the driver does not read is refused
// (a typo must not silently run a host with defaults), and each driver's own values are checked.

describe('driver settings', () => {
  it('refuses a key the driver does not read, naming the ones it does', () => {
    expect(() => createDriver('sim', { settings: { simBootMS: 10 } })).toThrow(/unknown setting "simBootMS" \(this driver reads: simBootMs/)
    expect(() => createDriver('qemu', { stateDir: '/tmp', settings: { libvirtUri: 'qemu:///session' } })).toThrow(/unknown setting "libvirtUri"/)
  })

  it('passes known ones on, and checks their values', () => {
    const lv = createDriver('libvirt', { stateDir: '/tmp', settings: { libvirtUri: 'qemu:///session', libvirtDomainType: 'qemu' } })
    expect(lv.name).toBe('libvirt')
    expect(() => createDriver('libvirt', { stateDir: '/tmp', settings: { libvirtDomainType: 'xen' } })).toThrow(/libvirtDomainType must be kvm or qemu/)
    expect(() => createDriver('qemu', { stateDir: '/tmp', settings: { qemuAccel: 'hvf' } })).toThrow(/qemuAccel must be kvm, tcg or auto/)
    for (const name of Object.keys(DRIVER_SETTINGS)) expect(() => createDriver(name, { stateDir: '/tmp', settings: {} })).not.toThrow()
  })
})
