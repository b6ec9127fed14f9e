import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import type { StorageBackend, StorageContext } from '../../node/storage/types.ts'
import { cleanup, exists, guestTree, RecordingShell, tarCat, tempDir } from './helpers.ts'

// The contract every StorageBackend keeps, run by test/storage/backends.test.ts for loopback, lvm (stand-in) and cow.
// `makeEnv(dir, assets)` returns how to build the backend under test over the prepared assets (a guest tree as a
// tarball and as an ext4 image, both holding /etc/hostname = assets.hostname).

export interface StorageAssets { tarball: string, ext4Image: string, hostname: string }

export interface StorageEnv {
  /** A backend for `domainName`, filled from one of the assets, with a swap volume. */
  backend: (domainName: string) => StorageBackend
  /** Environment for the shell (PATH to stand-ins...). */
  shellEnv?: Record<string, string>
}

export function storageCompliance (name: string, makeEnv: (dir: string, assets: StorageAssets) => Promise<StorageEnv>): void {
  describe(`StorageBackend compliance: ${name}`, () => {
    let dir: string
    let env: StorageEnv
    let shell: RecordingShell
    let ctx: StorageContext

    beforeEach(async () => {
      dir = await tempDir(`storage-${name}`)
      const tree = await guestTree(join(dir, 'tree'), `host-${name}`)
      const tarball = join(dir, 'base.tar')
      await execa('tar', ['-cf', tarball, '-C', tree, '.'])
      const ext4Image = join(dir, 'base.ext4')
      await execa('truncate', ['-s', '32M', ext4Image])
      await execa('mkfs.ext4', ['-F', '-q', '-d', tree, ext4Image])
      env = await makeEnv(dir, { tarball, ext4Image, hostname: `host-${name}` })
      shell = new RecordingShell({ env: env.shellEnv })
      ctx = { shell, workDir: join(dir, 'work') }
      await mkdir(ctx.workDir)
    })
    afterEach(async () => { await cleanup(dir) })

    it('prepare gives existing disks and a JSON record; teardown from the round-tripped record removes them, twice', async () => {
      const b = env.backend('c1')
      expect(b.kind).toBe(name)
      const p = await b.prepare(ctx)
      expect(p.disks.filter(d => d.role === 'root')).toHaveLength(1)
      for (const d of p.disks) expect(await exists(d.path)).toBe(true)
      const saved = JSON.parse(JSON.stringify(p))
      expect(saved).toEqual(p)
      await b.teardown(ctx, saved, { keepVolumes: false })
      for (const d of p.disks) expect(await exists(d.path)).toBe(false)
      await b.teardown(ctx, saved, { keepVolumes: false })
    })

    it('keepVolumes keeps every disk', async () => {
      const b = env.backend('c2')
      const p = await b.prepare(ctx)
      await b.teardown(ctx, p, { keepVolumes: true })
      for (const d of p.disks) expect(await exists(d.path)).toBe(true)
      await b.teardown(ctx, p, { keepVolumes: false })
      for (const d of p.disks) expect(await exists(d.path)).toBe(false)
    })

    it('saves the guest file system to a tarball before the volumes go', async () => {
      const b = env.backend('c3')
      const p = await b.prepare(ctx)
      const dest = join(dir, 'saved', 'c3.tar.gz')
      await b.teardown(ctx, p, { keepVolumes: false, saveImageTo: dest })
      expect(await tarCat(dest, 'etc/hostname')).toMatch(/^host-/)
      for (const d of p.disks) expect(await exists(d.path)).toBe(false)
      await b.teardown(ctx, p, { keepVolumes: false, saveImageTo: dest }) // idempotent: the tarball is there already
      await expect(b.teardown(ctx, p, { keepVolumes: false, saveImageTo: join(dir, 'saved', 'never.tar') }))
        .rejects.toMatchObject({ name: 'StorageError', message: expect.stringMatching(/gone/) })
    })

    it('a failure at any step of prepare throws StorageError and leaves no disk behind', async () => {
      const b = env.backend('c4')
      const ok = await b.prepare(ctx)
      const steps = shell.calls.length
      await b.teardown(ctx, ok, { keepVolumes: false })
      expect(steps).toBeGreaterThan(1)
      for (let step = 0; step < steps; step++) {
        shell.calls.length = 0
        shell.failOn = () => shell.calls.length === step + 1
        await expect(b.prepare(ctx), `failing command ${step}`).rejects.toMatchObject({ name: 'StorageError', backend: name })
        shell.failOn = undefined
        for (const d of ok.disks) expect(await exists(d.path), `${d.path} after failing command ${step}`).toBe(false)
      }
    }, 60_000)
  })
}
