import { describe, expect, it } from 'vitest'
import { checkName, checkPoolNames, hostNameProblem, isIPv4, isIPv6Address, isNetmask, NameError, nameProblem } from '../../node/security/names.ts'

describe('name and address syntax', () => {
  it('host names follow RFC 1123 and its lengths', () => {
    for (const ok of ['machine9.cern.ch', 'a', '9lives', 'x-1.example.', 'a'.repeat(63) + '.ch']) expect(hostNameProblem(ok)).toBeUndefined()
    for (const bad of ['', '-x', 'x-', 'a_b', 'a..b', 'a b', 'x;rm -rf /', '$(id)', 'a'.repeat(64), Array(130).fill('ab').join('.')]) {
      expect(hostNameProblem(bad), bad).toBeDefined()
    }
  })

  it('IPv4 is a strict dotted quad, IPv6 has no zone, netmasks are contiguous', () => {
    expect(isIPv4('192.0.2.11')).toBe(true)
    for (const bad of ['999.999.1.1', '1.2.3', '01.2.3.4', '1.2.3.4 ', '1.2.3.4.5', '0x1.2.3.4']) expect(isIPv4(bad), bad).toBe(false)
    expect(isIPv6Address('2001:db8::1')).toBe(true)
    expect(isIPv6Address('fe80::1%eth0')).toBe(false)
    expect(isIPv6Address('2001:db8::g')).toBe(false)
    for (const ok of ['255.255.0.0', '255.255.255.255', '0.0.0.0', '255.255.255.128', '24', '0', '32']) expect(isNetmask(ok), ok).toBe(true)
    for (const bad of ['255.0.255.0', '255.255.0.1', '33', '024', 'x']) expect(isNetmask(bad), bad).toBe(false)
  })

  it('domain, volume and file names keep separators and option dashes out', () => {
    expect(nameProblem('domain-name', 'domainLVM')).toBeUndefined()
    for (const bad of ['-help', 'a,b', 'a b', 'x;y', 'a'.repeat(65), '']) expect(nameProblem('domain-name', bad), bad).toBeDefined()
    expect(nameProblem('volume-name', 'vg0')).toBeUndefined()
    expect(nameProblem('volume-name', '-vg')).toBeDefined()
    expect(nameProblem('file-name', 'tar.gz')).toBeUndefined()
    for (const bad of ['../x', 'a/b', '..', '-rf']) expect(nameProblem('file-name', bad), bad).toBeDefined()
  })

  it('checkName throws a NameError naming the attribute and value', () => {
    expect(() => checkName('computer1:domain1 hostname', 'x; rm -rf /', 'host-name')).toThrow(NameError)
    try { checkName('computer1:domain1 ip', '999.1.1.1', 'ip') } catch (err) {
      expect((err as NameError).name).toBe('NameError')
      expect((err as NameError).message).toMatch(/^computer1:domain1 ip "999.1.1.1": /)
    }
  })
})

describe('checkPoolNames', () => {
  it('reports every bad name or address in our components and every bad sfProcessHost', () => {
    const XEN = 'ch.cern.openlab.smartdomains.XenDomainImpl'
    const config = {
      c1: {
        sfProcessHost: 'machine9.cern.ch',
        d1: { sfClass: XEN, hostname: 'machine9-dom1', ip: '192.0.2.1', netmask: '255.255.0.0', gateway: '999.999.1.1', domainName: 'x; rm -rf /' }
      },
      c2: { sfProcessHost: 'bad host', d2: { sfClass: XEN, hostname: 'ok', ip: { $ref: 'LAZY ATTRIB addr' } } },
      notOurs: { sfClass: 'x.Y', hostname: 'not checked!' }
    }
    const found = checkPoolNames(config).map(e => e.attr).sort()
    expect(found).toEqual(['c1:d1 domainName', 'c1:d1 gateway', 'c2 sfProcessHost'])
  })
})
