import { createHash } from 'node:crypto'
import { mkdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { SimDriver } from '../../node/drivers/sim.ts'
import { createEngine } from '../../node/engine/index.ts'
import type { PoolEngine } from '../../node/engine/index.ts'
import { lateImageResolver, startImageService } from '../../node/images/service.ts'
import type { ImageService } from '../../node/images/service.ts'
import { Warehouse } from '../../node/images/warehouse.ts'
import type { ResolveImage } from '../../node/storage/image-base.ts'
import { TestMesh, waitFor } from '../mesh/helpers.ts'
import { bashShell, compound, domain, filesUnder, lazy, makeBaseTarball, removeTempDirs, storage, tempDir } from './fixtures.ts'

// Descriptions that name a warehouse image (`baseImage "image:NAME"` or `"image:ID"`): the engine's storage gets the
// file from the warehouse, and from the peers of a real libp2p mesh when this host lacks it, before prepare goes on.
// Real storage backends (mkfs/debugfs, qemu-img overlays) and the sim driver.

afterAll(removeTempDirs)
const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')
let mesh: TestMesh | undefined
const services: ImageService[] = []
afterEach(async () => {
  for (const s of services.splice(0)) await s.stop()
  await mesh?.close()
  mesh = undefined
})

/** A raw ext4 image and a tarball of the same small tree (/etc/hostname "base", /etc/motd). */
async function images (dir: string): Promise<{ tarball: string, raw: string }> {
  const tarball = await makeBaseTarball(dir)
  const tree = join(dir, 'tree')
  await mkdir(tree)
  await execa('tar', ['-xzf', tarball, '-C', tree])
  const raw = join(dir, 'base.raw')
  await execa('truncate', ['-s', '16M', raw])
  await execa('mkfs.ext4', ['-q', '-F', '-d', tree, raw])
  return { tarball, raw }
}

function engineOn (stateDir: string, resolveImage?: ResolveImage): PoolEngine {
  return createEngine({ host: 'h1', stateDir, driver: new SimDriver(), ...(resolveImage !== undefined ? { resolveImage } : {}) })
}

function pool (loopImage: string, cowImage: string): ReturnType<typeof compound> {
  return compound({
    myShell: bashShell(),
    loop: storage('Loopback', { domainName: 'loopvm', baseImage: loopImage, volumeSize: '16M' }),
    vm1: domain({ ip: '192.0.2.10', hostname: 'loopvm', storageBackend: lazy('ATTRIB loop'), domainLivenessCheck: false }),
    cow: storage('Cow', { domainName: 'cowvm', baseImage: cowImage }),
    vm2: domain({ ip: '192.0.2.11', hostname: 'cowvm', storageBackend: lazy('ATTRIB cow'), domainLivenessCheck: false })
  })
}

async function backingOf (overlay: string): Promise<string> {
  return (JSON.parse((await execa('qemu-img', ['info', '--output=json', overlay])).stdout) as { 'backing-filename': string })['backing-filename']
}

describe('deploying from warehouse images', () => {
  it('a loopback disk is filled from image:NAME and a cow overlay sits on image:ID, straight from the warehouse', async () => {
    const dir = await tempDir('engine-images')
    const stateDir = join(dir, 'state')
    const { tarball, raw } = await images(dir)
    const wh = new Warehouse(stateDir)
    await wh.importFile(tarball, { name: 'slc-test' })
    const rawRecord = await wh.importFile(raw, { name: 'slc-raw' })
    const engine = engineOn(stateDir)
    await engine.start()
    const st = await engine.deploy('p', pool('image:slc-test', `image:${rawRecord.id}`))
    expect(st.state).toBe('running')
    const disk = join(stateDir, 'storage', 'p', 'loop', 'loopvm-disk.img')
    expect((await execa('debugfs', ['-R', 'cat /etc/motd', disk])).stdout).toBe('sdpeer test image')
    // The overlay's backing file is the warehouse's own copy: nothing was copied for the cow guest.
    expect(await backingOf(join(stateDir, 'storage', 'p', 'cow', 'cowvm.qcow2'))).toBe(wh.imagePath(rawRecord))
    await engine.terminate('p', 'normal')
    expect(await filesUnder(join(stateDir, 'storage'))).toEqual([])
    // The warehouse images are untouched by the guests and their teardown.
    expect((await wh.list()).map(r => r.names[0]).sort()).toEqual(['slc-raw', 'slc-test'])
    await engine.stop()
  })

  it('an image in no warehouse fails the deploy naming the image and the storage component; nothing is left', async () => {
    const dir = await tempDir('engine-images')
    const stateDir = join(dir, 'state')
    const { raw } = await images(dir)
    await new Warehouse(stateDir).importFile(raw, { name: 'slc-raw' })
    const engine = engineOn(stateDir)
    await engine.start()
    const err = await engine.deploy('p', pool('image:no-such-image', 'image:slc-raw')).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'EngineError', pool: 'p' })
    expect((err as Error).message).toMatch(/image:no-such-image/)
    expect((err as Error).message).toMatch(/\bp:loop: /)
    expect((err as Error).message).toMatch(/ImageNotFoundError|not in the warehouse/)
    expect(await filesUnder(join(stateDir, 'storage'))).toEqual([])
    // A tarball image cannot be a cow base: refused before qemu-img sees it.
    await mkdir(join(dir, 'tgz'))
    await new Warehouse(stateDir).importFile(await makeBaseTarball(join(dir, 'tgz')), { name: 'a-tarball' })
    const err2 = await engine.deploy('q', pool('image:slc-raw', 'image:a-tarball')).catch((e: unknown) => e)
    expect((err2 as Error).message).toMatch(/not a disk image/)
    await engine.stop()
  })

  it('a host that lacks the image fetches it from the peer that holds it (real libp2p mesh) before prepare goes on', async () => {
    mesh = new TestMesh()
    const a = await mesh.add('a.cern.ch')
    const b = await mesh.add('b.cern.ch', { bootstrap: [a.multiaddrs()[0]] })
    await waitFor('mesh joined', () => a.membership.member(b.peerId)?.status === 'alive' && b.membership.member(a.peerId)?.status === 'alive')
    const dir = await tempDir('engine-images')
    const { tarball, raw } = await images(dir)
    const announcedByA: string[][] = []
    const sa = await startImageService({ meshNode: a, stateDir: await mesh.dir('a.cern.ch'), rescanMs: 0, onHeldChange: e => { announcedByA.push(e) } })
    services.push(sa)
    await sa.warehouse.importFile(tarball, { name: 'slc-test' })
    const rawRecord = await sa.warehouse.importFile(raw, { name: 'slc-raw' })
    await sa.refreshHeld()
    expect(announcedByA.at(-1)).toEqual(expect.arrayContaining(['slc-test', 'slc-raw', rawRecord.id]))

    const stateB = await mesh.dir('b.cern.ch')
    let sb: ImageService | undefined
    const fetched: string[] = []
    // The engine exists before the image service, as in the daemon.
    const engine = engineOn(stateB, lateImageResolver(stateB, () => sb))
    await engine.start()
    sb = await startImageService({ meshNode: b, stateDir: stateB, rescanMs: 0, onFetch: (ref, r) => { if (!r.local) fetched.push(ref) } })
    services.push(sb)
    expect(sb.announcedImages()).toEqual([])
    const st = await engine.deploy('p', pool('image:slc-test', 'image:slc-raw'))
    expect(st.state).toBe('running')
    expect(fetched.sort()).toEqual(['image:slc-raw', 'image:slc-test'])
    const disk = join(stateB, 'storage', 'p', 'loop', 'loopvm-disk.img')
    expect((await execa('debugfs', ['-R', 'cat /etc/hostname', disk])).stdout).toBe('base')
    const local = await sb.warehouse.get('slc-raw')
    expect(await backingOf(join(stateB, 'storage', 'p', 'cow', 'cowvm.qcow2'))).toBe(sb.warehouse.imagePath(local))
    expect(sha(await readFile(sb.warehouse.imagePath(local)))).toBe(sha(await readFile(raw)))
    // B now holds both: its announcement entries say so, and a second pool fetches nothing.
    expect(sb.announcedImages()).toEqual(expect.arrayContaining(['slc-test', 'slc-raw', rawRecord.id]))
    await engine.deploy('p2', compound({ myShell: bashShell(), cow: storage('Cow', { domainName: 'again', baseImage: 'image:slc-raw' }) }))
    expect(fetched).toHaveLength(2)
    await engine.terminate('p', 'normal')
    await engine.terminate('p2', 'normal')
    await engine.stop()
  }, 30_000)

  it('terminating a pool while its image is being fetched ends the wait and the transfer; the chunks stay for later', async () => {
    mesh = new TestMesh()
    const a = await mesh.add('a.cern.ch')
    const b = await mesh.add('b.cern.ch', { bootstrap: [a.multiaddrs()[0]] })
    await waitFor('mesh joined', () => a.membership.member(b.peerId)?.status === 'alive' && b.membership.member(a.peerId)?.status === 'alive')
    const dir = await tempDir('engine-images')
    const { raw } = await images(dir)
    // A peer that stalls after its third chunk: the fetch is under way and cannot finish.
    let served = 0
    let release: () => void = () => {}
    const held = new Promise<void>(resolve => { release = resolve })
    const sa = await startImageService({ meshNode: a, stateDir: await mesh.dir('a.cern.ch'), rescanMs: 0, hooks: { onChunk: async () => { if (++served > 3) await held } } })
    services.push(sa)
    const record = await sa.warehouse.importFile(raw, { name: 'slc-raw' })
    const stateB = await mesh.dir('b.cern.ch')
    const sb = await startImageService({ meshNode: b, stateDir: stateB, rescanMs: 0, transfer: { perPeer: 1, batch: 1 } })
    services.push(sb)
    const engine = engineOn(stateB, sb.resolve)
    await engine.start()
    try {
      const deploying = engine.deploy('p', compound({ myShell: bashShell(), cow: storage('Cow', { domainName: 'slow', baseImage: 'image:slc-raw' }) })).catch((e: unknown) => e)
      await waitFor('transfer stalled', () => served > 3)
      const t0 = Date.now()
      await engine.terminate('p', 'abnormal', 'given up')
      const err = await deploying
      expect(Date.now() - t0).toBeLessThan(5_000)
      expect(err).toMatchObject({ name: 'EngineError' })
      expect(await sb.warehouse.find('image:slc-raw')).toBeUndefined()
      // The chunks that did arrive are kept: the next fetch resumes from them.
      release()
      const r = await sb.fetch('image:slc-raw')
      expect(r.resumedChunks).toBe(3)
      expect(r.record.id).toBe(record.id)
    } finally {
      release()
      await engine.stop()
    }
  }, 30_000)
})
