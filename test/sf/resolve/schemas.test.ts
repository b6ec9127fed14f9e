import { describe, expect, it } from 'vitest'
import { SF_CLASS } from '../../../node/sf/component-classes.ts'
import { checkAttribute, schemaFor, sizeMiB, typeCheck } from '../../../node/sf/schemas.ts'

// The component schema table the engine uses for `sdpeer set` (node/sf/schemas.ts).

describe('component schemas', () => {
  it('has a schema for every sfClass sdpeer deploys', () => {
    for (const cls of Object.values(SF_CLASS)) expect(schemaFor(cls)?.sfClass).toBe(cls)
    expect(schemaFor('org.example.Unknown')).toBeUndefined()
  })

  it('declares the SmartDomains defaults and the attributes acting at termination', () => {
    const xen = schemaFor(SF_CLASS.XenDomain)!.attrs
    expect([xen.memory!.default, xen.vcpus!.default, xen.domainLivenessDelay!.default, xen.domainLivenessFactor!.default, xen.domainLivenessCheck!.default, xen.extra!.default])
      .toEqual([512, 1, 2000, 3, true, ''])
    expect(xen.kernel!.required).toBe(true)
    const lvm = schemaFor(SF_CLASS.LVMStorageBackend)!.attrs
    expect([lvm.volumeSize!.default, lvm.swapSize!.default, lvm.makeFs!.default, lvm.saveImageExtension!.default]).toEqual(['1G', '512M', true, 'tar.gz'])
    const atEnd = Object.entries(lvm).filter(([, a]) => a.atTermination === true).map(([n]) => n).sort()
    expect(atEnd).toEqual(['keepVolumes', 'saveImage', 'saveImageExtension', 'saveImageName', 'saveImagePath'])
  })

  it('checks types for sdpeer set', () => {
    expect(checkAttribute(SF_CLASS.XenDomain, 'memory', 1024)).toBeUndefined()
    expect(checkAttribute(SF_CLASS.XenDomain, 'memory', '2G')).toBeUndefined()
    expect(checkAttribute(SF_CLASS.XenDomain, 'memory', 'lots')).toMatch(/^memory: expected a size/)
    expect(checkAttribute(SF_CLASS.XenDomain, 'vcpus', 1.5)).toMatch(/expected an Integer/)
    expect(checkAttribute(SF_CLASS.XenDomain, 'memroy', 1)).toMatch(/has no attribute memroy/)
    expect(checkAttribute(SF_CLASS.XenDomain, 'ip', '10.0.0.300')).toMatch(/not an IPv4 address/)
    expect(checkAttribute(SF_CLASS.XenDomain, 'storageBackend', { $ref: 'LAZY ATTRIB lvm' })).toBeUndefined()
    expect(checkAttribute(SF_CLASS.XenDomain, 'storageBackend', 'lvm')).toMatch(/expected a LAZY reference/)
    expect(checkAttribute(SF_CLASS.Compound, 'anyChild', { a: 1 })).toBeUndefined()
    expect(checkAttribute('org.example.Unknown', 'x', 1)).toBeUndefined()
  })

  it('accepts "true"/"false" Strings for Booleans with a warning only', () => {
    expect(typeCheck('boolean', 'false')).toEqual({ warning: expect.stringContaining('taken as the Boolean false') })
    expect(typeCheck('boolean', 'no').error).toMatch(/expected a Boolean/)
  })

  it('reads sizes as MiB', () => {
    expect([sizeMiB(512), sizeMiB('512M'), sizeMiB('1G'), sizeMiB('1.5G'), sizeMiB('2T'), sizeMiB('1024K')]).toEqual([512, 512, 1024, 1536, 2097152, 1])
    expect(sizeMiB('big')).toBeUndefined()
    expect(sizeMiB(-1)).toBeUndefined()
  })

  it('warns about well-typed values that cannot deploy, and accepts 255.255.0.0', () => {
    expect(checkAttribute(SF_CLASS.XenDomain, 'netmask', '255.255.0.0')).toBeUndefined()
    expect(checkAttribute(SF_CLASS.XenDomain, 'netmask', '255.0.255.0')).toMatch(/contiguous/)
    expect(checkAttribute(SF_CLASS.XenDomain, 'hostname', 'bad_host!')).toMatch(/host name/)
    expect(checkAttribute(SF_CLASS.LVMStorageBackend, 'baseImage', 'relative.img')).toMatch(/absolute path/)
  })
})
