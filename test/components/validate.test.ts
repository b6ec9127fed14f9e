import { describe, expect, it } from 'vitest'
import { checkAbsolutePath, checkDomainName, checkFileName, checkHostname, checkImageExtension, checkIPv4, checkNetmask } from '../../node/components/validate.ts'
import { parseReferenceText } from '../../node/engine/reference.ts'

describe('deploy-time value checks', () => {
  it('IPv4 addresses and netmasks', () => {
    expect(checkIPv4('ip', '192.0.2.10')).toBeUndefined()
    for (const bad of ['999.999.999.999', '111.222.333.444', '1.2.3', '1.2.3.4.5', '01.2.3.x', ' 1.2.3.4']) expect(checkIPv4('ip', bad)).toMatch(/not an IPv4/)
    expect(checkNetmask('netmask', '255.255.0.0')).toBeUndefined()
    expect(checkNetmask('netmask', '255.255.255.255')).toBeUndefined()
    expect(checkNetmask('netmask', '255.0.255.0')).toMatch(/not a netmask/)
  })

  it('domain names, host names and file names refuse anything a shell or a path could misread', () => {
    expect(checkDomainName('domainName', 'domainLVM')).toBeUndefined()
    expect(checkDomainName('domainName', 'a'.repeat(64))).toBeUndefined()
    for (const bad of ['x; rm -rf /', '$(id)', 'a\nb', '../x', '-rf', '', 'a'.repeat(65), '.hidden']) expect(checkDomainName('domainName', bad)).toBeDefined()
    expect(checkHostname('hostname', 'vm1.cern.ch')).toBeUndefined()
    for (const bad of ['$(reboot)', 'a..b', '-x', 'a_b']) expect(checkHostname('hostname', bad)).toBeDefined()
    expect(checkFileName('saveImageName', 'vm1-2026')).toBeUndefined()
    for (const bad of ['../x', 'a/b', 'a..b', '.x']) expect(checkFileName('saveImageName', bad)).toBeDefined()
    expect(checkAbsolutePath('saveImagePath', '/srv/images')).toBeUndefined()
    for (const bad of ['rel', '/a/../b', '/a\nb']) expect(checkAbsolutePath('saveImagePath', bad)).toBeDefined()
    for (const ok of ['tar', 'tar.gz', 'tgz', '.tgz']) expect(checkImageExtension('saveImageExtension', ok)).toBeUndefined()
    expect(checkImageExtension('saveImageExtension', 'zip')).toBeDefined()
  })
})

describe('reference text read for run-time resolution', () => {
  it('maps the parser\'s parts: first word ATTRIB, later words HERE', () => {
    expect(parseReferenceText('LAZY ATTRIB myShell')).toEqual({ lazy: true, data: false, optional: false, defaultValue: null, parts: [{ kind: 'ATTRIB', name: 'myShell' }] })
    expect(parseReferenceText('LAZY a:b').parts).toEqual([{ kind: 'ATTRIB', name: 'a' }, { kind: 'HERE', name: 'b' }])
    expect(parseReferenceText('LAZY PARENT:ROOT:THIS:HERE x').parts.map(p => p.kind)).toEqual(['PARENT', 'ROOT', 'THIS', 'HERE'])
    expect(parseReferenceText('LAZY OPTIONAL("d") ATTRIB x')).toMatchObject({ optional: true, defaultValue: 'd' })
  })

  it('refuses parts that have no meaning in sdpeer at run time', () => {
    expect(() => parseReferenceText('LAZY PROPERTY java.home')).toThrow(/PROPERTY is not supported/)
    expect(() => parseReferenceText('LAZY ::')).toThrow(/reference/)
  })
})
