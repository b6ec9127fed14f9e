import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { checkPath, checkPoolPaths, parseAllowPaths, PathPolicyError } from '../../node/security/paths.ts'
import type { AllowedPaths } from '../../node/security/paths.ts'

let root: string
let allowed: AllowedPaths

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'sdpeer-paths-'))
  await mkdir(join(root, 'images', 'sub'), { recursive: true })
  await mkdir(join(root, 'saved'))
  await mkdir(join(root, 'kernels'))
  await writeFile(join(root, 'images', 'base.img'), 'x')
  await writeFile(join(root, 'secret'), 'x')
  await symlink('/etc', join(root, 'images', 'etc-link'))
  await symlink(join(root, 'secret'), join(root, 'images', 'innocent.img'))
  await symlink(join(root, 'nowhere', 'x'), join(root, 'saved', 'dangling'))
  await symlink(join(root, 'images'), join(root, 'kernels', 'imgs'))
  allowed = parseAllowPaths([join(root, 'images'), join(root, 'saved'), `ro:${join(root, 'kernels')}`])
})
afterAll(async () => { await rm(root, { recursive: true, force: true }) })

async function refusal (attr: string, value: unknown, mode: 'read' | 'write'): Promise<PathPolicyError> {
  try {
    await checkPath(attr, value, mode, allowed)
  } catch (err) {
    expect(err).toBeInstanceOf(PathPolicyError)
    expect((err as Error).name).toBe('PathPolicyError')
    return err as PathPolicyError
  }
  throw new Error(`${String(value)} was accepted`)
}

describe('checkPath', () => {
  it('accepts files and new paths inside an allowed directory, returning the resolved path', async () => {
    expect(await checkPath('baseImage', join(root, 'images', 'base.img'), 'read', allowed)).toBe(join(root, 'images', 'base.img'))
    expect(await checkPath('saveImagePath', join(root, 'saved', 'new', 'deeper'), 'write', allowed)).toBe(join(root, 'saved', 'new', 'deeper'))
    expect(await checkPath('saveImagePath', join(root, 'saved'), 'write', allowed)).toBe(join(root, 'saved'))
    // a symlink that stays inside the allowed directories is fine
    expect(await checkPath('kernel', join(root, 'kernels', 'imgs', 'base.img'), 'read', allowed)).toBe(join(root, 'images', 'base.img'))
  })

  it('refuses the issue\'s three examples with the attribute\'s path and value in the message', async () => {
    const shadow = await refusal('computer1:lvm baseImage', '/etc/shadow', 'read')
    expect(shadow.message).toContain('computer1:lvm baseImage "/etc/shadow" refused')
    expect(shadow.attr).toBe('computer1:lvm baseImage')
    expect(shadow.value).toBe('/etc/shadow')
    expect((await refusal('saveImagePath', '/etc', 'write')).message).toMatch(/^saveImagePath "\/etc" refused: outside/)
    expect((await refusal('kernel', '../../x', 'read')).message).toMatch(/^kernel "\.\.\/\.\.\/x" refused: must be an absolute path/)
  })

  it('refuses ".." even when it would stay inside, and symlinks that lead out', async () => {
    expect((await refusal('baseImage', `${root}/images/sub/../base.img`, 'read')).message).toContain('".."')
    expect((await refusal('baseImage', join(root, 'images', 'etc-link', 'shadow'), 'read')).message).toContain('resolves to /etc/shadow')
    expect((await refusal('baseImage', join(root, 'images', 'innocent.img'), 'read')).message).toContain(`resolves to ${join(root, 'secret')}`)
    expect((await refusal('saveImagePath', join(root, 'saved', 'dangling'), 'write')).message).toContain('symlink to a path that does not exist')
  })

  it('keeps read-only directories read-only, and refuses prefixes that are not directories', async () => {
    expect((await refusal('tempMountPoint', join(root, 'kernels', 'x'), 'write')).message).toContain('outside the directories this host allows for writing')
    expect((await refusal('baseImage', `${join(root, 'images')}-evil/x`, 'read')).message).toContain('outside')
  })

  it('refuses non-strings, control characters, and hosts that allow nothing', async () => {
    await refusal('kernel', 42, 'read')
    await refusal('kernel', join(root, 'images', 'a\nb'), 'read')
    await refusal('kernel', '', 'read')
    await expect(checkPath('kernel', join(root, 'images', 'base.img'), 'read', { read: [], write: [] })).rejects.toThrow(/--allow-path/)
  })
})

describe('checkPoolPaths', () => {
  it('walks a resolved pool and returns every violation of our components, and none for a clean pool', async () => {
    const XEN = 'ch.cern.openlab.smartdomains.XenDomainImpl'
    const LVM = 'ch.cern.openlab.smartdomains.LVMStorageBackendImpl'
    const config = {
      sfClass: 'org.smartfrog.sfcore.compound.CompoundImpl',
      computer1: {
        sfClass: 'org.smartfrog.sfcore.compound.CompoundImpl',
        lvm: { sfClass: LVM, baseImage: '/etc/shadow', saveImagePath: '/etc', shell: { $ref: 'LAZY ATTRIB myShell' } },
        domain1: { sfClass: XEN, kernel: '../../x', ramdisk: join(root, 'kernels', 'imgs', 'base.img') }
      },
      data: { $data: true, kernel: '/etc/passwd' },
      other: { sfClass: 'some.OtherImpl', kernel: '/etc/passwd' }
    }
    const v = await checkPoolPaths(config, allowed)
    expect(v.map(e => e.attr).sort()).toEqual(['computer1:domain1 kernel', 'computer1:lvm baseImage', 'computer1:lvm saveImagePath'])
    const clean = { ...config, computer1: { lvm: { sfClass: LVM, baseImage: join(root, 'images', 'base.img'), saveImagePath: join(root, 'saved') } } }
    expect(await checkPoolPaths(clean, allowed)).toEqual([])
    // A warehouse image is named, not a path: a valid name passes, a name that tries to be a path does not.
    const images = { a: { sfClass: LVM, baseImage: 'image:debian-12' }, b: { sfClass: LVM, baseImage: 'image:../../etc/shadow' } }
    expect((await checkPoolPaths(images, allowed)).map(e => e.attr)).toEqual(['b baseImage'])
  })

  it('parses --allow-path values and refuses relative ones', () => {
    expect(parseAllowPaths(['/a/', 'ro:/b'])).toEqual({ read: ['/a/', '/b'], write: ['/a/'] })
    expect(() => parseAllowPaths(['rel'])).toThrow(/absolute/)
  })
})
