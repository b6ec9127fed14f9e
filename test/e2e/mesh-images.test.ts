import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Cluster } from '../../simulations/cluster/cluster.ts'
import { makeBaseTarball, removeTempDirs, tempDir } from '../engine/fixtures.ts'

// The image service as the daemon runs it (node/daemon/daemon.ts): three real daemons, one warehouse holding an
// image. Its host announces the image (every peer's `sdpeer hosts --json` shows it: the scheduler's "cached base
// image"); a pool whose disks sit on the two other hosts names it `image:NAME`, and those hosts fetch it from the
// mesh before their prepare goes on. Secure mesh: pool key, signed requests, --allow-path for the disks' files.

const HOSTS = ['img1', 'img2', 'img3']
let cluster: Cluster
let dir: string

beforeAll(async () => {
  dir = await tempDir('mesh-images')
  cluster = await Cluster.start({ hosts: HOSTS.map(host => ({ host, args: ['--allow-path', dir] })) })
  const tree = join(dir, 'tree')
  await mkdir(tree)
  await execa('tar', ['-xzf', await makeBaseTarball(dir), '-C', tree])
  const raw = join(dir, 'base.raw')
  await execa('truncate', ['-s', '16M', raw])
  await execa('mkfs.ext4', ['-q', '-F', '-d', tree, raw])
  const imported = await cluster.cli(0, ['image', 'import', raw, '--name', 'slc-raw', '--state-dir', cluster.daemons[0]!.stateDir])
  expect(imported.stderr).toBe('')
  expect(imported.code).toBe(0)
}, 60_000)

afterAll(async () => { await cluster?.stop(); await removeTempDirs() })

const announced = async (i: number, host: string): Promise<string[] | undefined> =>
  (await cluster.call(i, 'hosts', {})).hosts.find(h => h.hostNames.includes(host))?.images

async function until<T> (what: string, fn: () => Promise<T | undefined>, ms = 45_000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (v !== undefined) return v
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 200))
  }
}

describe('images across the mesh', () => {
  it('a host announces what its warehouse holds; hosts that lack an image fetch it from the mesh at prepare', async () => {
    // The daemon looks at its warehouse every 30 s; the import went straight to the files, so wait for that look.
    await until('img1 announcing slc-raw', async () => (await announced(2, 'img1'))?.includes('slc-raw') === true ? true : undefined)
    expect(await announced(2, 'img2') ?? []).toEqual([])

    const sf = join(dir, 'pool.sf')
    await writeFile(sf, `#include "/ch/cern/openlab/smartdomains/components.sf"
sfConfig extends Compound {
  c2 extends Compound {
    sfProcessHost "img2";
    cow extends CowStorageBackend { domainName "cow2"; baseImage "image:slc-raw"; }
  }
  c3 extends Compound {
    sfProcessHost "img3";
    cow extends CowStorageBackend { domainName "cow3"; baseImage "image:slc-raw"; }
  }
}
`)
    const dep = await cluster.cli(0, ['deploy', sf, '--name', 'imgs', '--wait', '--json'])
    expect(dep.stderr).toBe('')
    expect(dep.code).toBe(0)
    const st = JSON.parse(dep.stdout) as { state: string, components: Array<{ path: string, host: string, state: string }> }
    expect(st.state).toBe('running')
    expect(st.components.filter(c => c.path.endsWith(':cow')).map(c => `${c.path}@${c.host}=${c.state}`).sort())
      .toEqual(['c2:cow@img2=running', 'c3:cow@img3=running'])
    // Each overlay sits on the fetched copy in its own host's warehouse, and both hosts now announce the image.
    for (const i of [1, 2]) {
      const ls = await cluster.cli(i, ['image', 'ls', '--json', '--state-dir', cluster.daemons[i]!.stateDir])
      expect((JSON.parse(ls.stdout) as Array<{ names: string[] }>).flatMap(r => r.names)).toEqual(['slc-raw'])
      await until(`${HOSTS[i]} announcing slc-raw`, async () => (await announced(0, HOSTS[i]!))?.includes('slc-raw') === true ? true : undefined, 10_000)
    }
    const term = await cluster.cli(1, ['terminate', 'imgs'])
    expect(term.code).toBe(0)
  }, 120_000)
})
