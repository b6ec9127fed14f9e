import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { HostPolicyError, hostPolicy, setPolicy } from '../../node/deploy/policy.ts'
import { parseAllowPaths } from '../../node/security/paths.ts'

const ours = 'ch.cern.openlab.smartdomains.XenDomainImpl'
const dir = mkdtempSync(join(tmpdir(), 'sdpeer-hostpolicy-'))
afterAll(() => { rmSync(dir, { recursive: true, force: true }) })
const allowed = parseAllowPaths([dir])

describe('hostPolicy: messages name attributes from the pool root', () => {
  it('at the root part, at another part\'s root, and below it', async () => {
    const problems = await hostPolicy(allowed)('p', [
      { path: '', config: { sfClass: ours, kernel: 'vmlinuz' } },
      { path: 'c1', config: { sfClass: ours, baseImage: '/etc/shadow', sfProcessHost: 'h1', lvm: { sfClass: ours, saveImagePath: '/etc', ip: '1.2.3' } } }
    ])
    expect(problems).toEqual([
      'kernel "vmlinuz" refused: must be an absolute path',
      'c1:lvm ip "1.2.3": is not an IPv4 or IPv6 address',
      expect.stringMatching(/^c1 baseImage "\/etc\/shadow" refused: outside the directories this host allows for reading: /),
      expect.stringMatching(/^c1:lvm saveImagePath "\/etc" refused: outside the directories this host allows for writing: /)
    ])
    const err = new HostPolicyError('p', problems)
    expect(err).toMatchObject({ name: 'HostPolicyError', pool: 'p', problems })
    expect(await hostPolicy(allowed)('p', [{ path: 'c1', config: { sfClass: ours, baseImage: join(dir, 'a.img') } }])).toEqual([])
  })

  it('setPolicy: path and name attributes by name, anything else passes', async () => {
    const check = setPolicy(allowed)
    expect(await check('p', 'c1:lvm', 'saveImagePath', '/etc')).toMatch(/^c1:lvm saveImagePath "\/etc" refused/)
    expect(await check('p', '', 'sfProcessHost', '-oProxyCommand=x')).toMatch(/^sfProcessHost "-oProxyCommand=x"/)
    expect(await check('p', 'c1', 'memory', 4096)).toBeUndefined()
    expect(await check('p', 'c1', 'baseImage', join(dir, 'b.img'))).toBeUndefined()
  })
})
