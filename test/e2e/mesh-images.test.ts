import { mkdir, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { Cluster } from '../../simulations/cluster/cluster.ts'
import { makeBaseTarball, removeTempDirs, tempDir } from '../engine/fixtures.ts'

// The image service as the daemon runs it (node/daemon/daemon.ts): three real daemons, one warehouse holding an
// image. Its host announces the image (every peer's `sdpeer hosts --json` shows it: the scheduler's "cached base
// image"); a pool whose computers the scheduler places on the two other hosts names it `image:NAME`, and those
// hosts fetch it from the mesh before their prepare goes on. Secure mesh: pool key, signed requests, --allow-path for the disks' files.

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
    // Scheduled: the Scheduler may use img2 and img3 only, each computer (its disk and its VM) goes to one of them
    // whole, and neither holds the image.
    await writeFile(sf, `#include "/ch/cern/openlab/smartdomains/components.sf"
Computer extends Compound {
  disk extends CowStorageBackend { baseImage "image:slc-raw"; }
  vm extends VM {
    kernel "${dir}/vmlinuz"; netmask "255.255.255.0"; gateway "192.0.2.1"; memory 40000;
    storageBackend LAZY ATTRIB disk; domainLivenessCheck false;
  }
}
sfConfig extends Compound {
  s extends Scheduler { hosts [|"img2", "img3"|]; }
  work extends Schedulee {
    scheduler LAZY ATTRIB s;
    c2 extends Computer { disk:domainName "cow2"; vm:hostname "cow2"; vm:ip "192.0.2.12"; }
    c3 extends Computer { disk:domainName "cow3"; vm:hostname "cow3"; vm:ip "192.0.2.13"; }
  }
}
`)
    const dep = await cluster.cli(0, ['deploy', sf, '--name', 'imgs', '--wait', '--json'])
    expect(dep.stderr).toBe('')
    expect(dep.code).toBe(0)
    const st = JSON.parse(dep.stdout) as { state: string, components: Array<{ path: string, host: string, state: string }> }
    expect(st.state).toBe('running')
    // 40,000 MiB each on hosts of 64 GiB: one computer per host.
    const disks = st.components.filter(c => c.path.endsWith(':disk'))
    expect(disks.map(c => c.state)).toEqual(['running', 'running'])
    expect(disks.map(c => c.host).sort()).toEqual(['img2', 'img3'])
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
