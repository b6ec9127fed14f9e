import { describe, expect, it } from 'vitest'
import { checkInside, checkName, inside, parseSizeMiB } from '../../node/storage/common.ts'

describe('parseSizeMiB', () => {
  it.each([
    [512, 512], [1.2, 2], ['512M', 512], ['512m', 512], ['1G', 1024], ['1.5G', 1536], ['2048', 2048], ['10GiB', 10240],
    ['4096K', 4], ['1K', 1], ['1T', 1048576], [' 64 MB ', 64]
  ])('%j is %i MiB', (input, mib) => {
    expect(parseSizeMiB('loopback', 'volumeSize', input)).toBe(mib)
  })
  it.each([0, -1, '0', '', 'big', '1X', '1G; rm -rf /', '1e3', Number.NaN, Infinity, null, true, {}])('refuses %j', input => {
    expect(() => parseSizeMiB('lvm', 'swapSize', input)).toThrow(expect.objectContaining({ name: 'StorageError', backend: 'lvm' }))
  })
})

describe('names and paths', () => {
  it('accepts the closed alphabet only', () => {
    for (const ok of ['a', 'dom-1', 'Dom_1.img', '9', 'a'.repeat(64)]) expect(checkName('cow', 'domainName', ok)).toBe(ok)
    for (const bad of ['', '.', '..', '-x', '_x', 'a b', 'a/b', 'a\\b', 'é', 'a'.repeat(65), 'a\0b', 42]) {
      expect(() => checkName('cow', 'domainName', bad)).toThrow(expect.objectContaining({ name: 'StorageError' }))
    }
  })
  it('keeps joined and recorded paths inside their directory', () => {
    expect(inside('loopback', '/srv/work', 'dom-disk.img')).toBe('/srv/work/dom-disk.img')
    expect(() => inside('loopback', '/srv/work', '../x')).toThrow(expect.objectContaining({ name: 'StorageError' }))
    expect(checkInside('cow', '/srv/work', '/srv/work/a.qcow2')).toBe('/srv/work/a.qcow2')
    for (const bad of ['/srv/work', '/srv/work/../etc/passwd', '/srv/workx/a', 'relative', 7]) {
      expect(() => checkInside('cow', '/srv/work', bad)).toThrow(expect.objectContaining({ name: 'StorageError' }))
    }
  })
})
