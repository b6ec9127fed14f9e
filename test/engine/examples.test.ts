import { mkdir, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { SimDriver } from '../../node/drivers/sim.ts'
import { createEngine } from '../../node/engine/index.ts'
import type { PoolEngine } from '../../node/engine/index.ts'
import { ExecaShell } from '../../node/seams/execa-shell.ts'
import { SF_CLASS } from '../../node/sf/component-classes.ts'
import { checkFile } from '../../node/sf/index.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'
import { filesUnder, makeBaseTarball, tempDir, removeTempDirs } from './fixtures.ts'

// The three examples of the tutorial and the gLite testbed, resolved by node/sf, deployed with the sim driver and
// real storage (loopback files, LVM through the recording stand-ins of test/fixtures/bin, qcow2 overlays) in a temp
// dir. The variants only replace what points outside the test: /data/... images, placeholder addresses, sizes.

const examples = '/work/shared/examples'
const standins = fileURLToPath(new URL('../fixtures/bin', import.meta.url))

let base: string
let rawBase: string

beforeAll(async () => {
  const dir = await tempDir('examples-base')
  base = await makeBaseTarball(dir)
  // The cow backend layers over an image: a raw ext4 made from the same tarball.
  const tree = join(dir, 'tree')
  await mkdir(tree)
  await execa('tar', ['-xzf', base, '-C', tree])
  rawBase = join(dir, 'base.img')
  await execa('truncate', ['-s', '16M', rawBase])
  await execa('mkfs.ext4', ['-q', '-F', '-d', tree, rawBase])
})

function resolve (file: string): SfJsonObject {
  const r = checkFile(join(examples, file))
  const errors = r.diagnostics.filter(d => d.severity === 'error')
  expect(errors).toEqual([])
  return structuredClone(r.config!)
}

/** Visits every component of the tree with its path. */
function each (cd: SfJsonObject, fn: (cd: SfJsonObject, path: string) => void, path = ''): void {
  fn(cd, path)
  for (const [k, v] of Object.entries(cd)) {
    if (v && typeof v === 'object' && !Array.isArray(v) && typeof (v as SfJsonObject).sfClass === 'string' && (v as SfJsonObject).$data !== true) {
      each(v as SfJsonObject, fn, path ? `${path}:${k}` : k)
    }
  }
}

let ip = 10
function localise (cd: SfJsonObject, saveDir: string): SfJsonObject {
  each(cd, c => {
    if (c.sfClass === SF_CLASS.XenDomain) {
      c.ip = `192.0.2.${ip++}`
      c.gateway = '192.0.2.1'
      if (c.netmask !== undefined) c.netmask = '255.255.255.0'
      c.domainLivenessDelay = 100
    }
    if (String(c.sfClass).endsWith('StorageBackendImpl')) {
      c.baseImage = c.sfClass === SF_CLASS.CowStorageBackend ? rawBase : base
      c.volumeSize = '16M'
      c.swapSize = '8M'
      if (c.saveImagePath !== undefined) c.saveImagePath = saveDir
    }
  })
  return cd
}

interface Host { engine: PoolEngine, driver: SimDriver, dir: string, dev: string, record: string }

async function host (): Promise<Host> {
  const dir = await tempDir('examples')
  const dev = join(dir, 'dev')
  await mkdir(join(dev, 'vg0'), { recursive: true })
  const record = join(dir, 'lvm.jsonl')
  const driver = new SimDriver()
  const env = { PATH: `${standins}:${process.env.PATH}`, SDPEER_RECORD: record, SDPEER_LVM_DEV: dev, SDPEER_NODE: process.execPath }
  const engine = createEngine({
    host: 'machine9.cern.ch',
    stateDir: join(dir, 'state'),
    driver,
    lvm: { devDir: dev, volumeGroup: 'vg0' },
    shell: (_path, log) => new ExecaShell({ log, env })
  })
  await engine.start()
  return { engine, driver, dir, dev, record }
}

async function expectAllGone (h: Host): Promise<void> {
  expect(await h.driver.list()).toEqual([])
  expect(await filesUnder(join(h.dir, 'state', 'storage'))).toEqual([])
  expect(await filesUnder(h.dev)).toEqual([])
  expect(await readdir(join(h.dir, 'state', 'pools'))).toEqual([])
}

describe('the examples, with the sim driver and real storage', () => {
  it('localVirtualPool.sf: loopback and LVM domains reach running and leave nothing behind', async () => {
    const h = await host()
    const st = await h.engine.deploy('local', localise(resolve('tutorial/localVirtualPool.sf'), h.dir))
    expect(st.state).toBe('running')
    expect(st.components.map(c => `${c.path} ${c.type} ${c.state}`)).toEqual([
      ' Compound running',
      'myShell BashShell running',
      'loop LoopbackStorageBackend running',
      'domain1 XenDomain running',
      'lvm LVMStorageBackend running',
      'domain2 XenDomain running'
    ])
    expect(st.components.every(c => c.host === 'machine9.cern.ch')).toBe(true)
    // "The domain takes its name from its storage backend".
    expect(await h.driver.list()).toEqual(['domainLVM', 'domainLoopback'])
    expect(await filesUnder(join(h.dir, 'state', 'storage'))).toEqual(['local/loop/domainLoopback-disk.img', 'local/loop/domainLoopback-swap.img'])
    expect(await filesUnder(h.dev)).toEqual(['vg0/domainLVM-disk', 'vg0/domainLVM-swap'])
    expect(h.engine.logs('local', 'lvm').some(l => /^info: \$ lvcreate /.test(l))).toBe(true)
    expect(h.engine.logs('local', 'myShell').some(l => /lvcreate/.test(l))).toBe(true)
    await h.engine.terminate('local', 'normal')
    await expectAllGone(h)
  })

  it('distVirtualPool.sf (every sfProcessHost local for now): both computers run, the console is a placeholder', async () => {
    const h = await host()
    // Both computers name an LVM domain "domainLVM": on one host they collide, and the deploy fails leaving nothing.
    const err = await h.engine.deploy('dist', localise(resolve('tutorial/distVirtualPool.sf'), h.dir)).catch(e => e)
    expect(err.name).toBe('EngineError')
    expect(err.path).toBe('computer2:lvm')
    expect(err.message).toMatch(/domainLVM-disk already exists/)
    await expectAllGone(h)
    expect(h.engine.status()).toEqual([])

    const cd = localise(resolve('tutorial/distVirtualPool.sf'), h.dir)
    const c2 = cd.computer2 as SfJsonObject
    ;(c2.lvm as SfJsonObject).domainName = 'domainLVM2'
    ;(c2.domain2 as SfJsonObject).domainName = 'domainLVM2'
    const st = await h.engine.deploy('dist', cd)
    expect(st.state).toBe('running')
    expect(st.components.filter(c => c.type === 'XenDomain').map(c => c.path)).toEqual(['computer1:domain1', 'computer1:domain2', 'computer2:domain2'])
    expect(st.components.find(c => c.path === 'console')).toMatchObject({ type: 'DeployManagement', state: 'running', reason: expect.stringMatching(/placeholder/) })
    expect(st.components.every(c => c.state === 'running')).toBe(true)
    await h.engine.terminate('dist', 'normal')
    await expectAllGone(h)
  })

  it('lvmVm.sf: the VM runs on LVM volumes; termination saves the image (saveImage true, tgz) and removes the volumes', async () => {
    const h = await host()
    const saveDir = join(h.dir, 'saved')
    const st = await h.engine.deploy('glite', localise(resolve('glite/lvmVm.sf'), saveDir))
    expect(st.state).toBe('running')
    expect(await h.driver.list()).toEqual(['vm1'])
    expect(await filesUnder(h.dev)).toEqual(['vg0/xen-domain-disk', 'vg0/xen-domain-swap'])
    await h.engine.terminate('glite', 'normal')
    expect(await filesUnder(saveDir)).toEqual(['xen-domain.tgz'])
    const listing = await execa('tar', ['-tzf', join(saveDir, 'xen-domain.tgz')])
    expect(listing.stdout).toMatch(/etc\/motd/)
    await expectAllGone(h)
  })

  it('a cow variant of localVirtualPool: qcow2 overlays over a cached base image, gone at termination', async () => {
    const h = await host()
    const cd = resolve('tutorial/localVirtualPool.sf')
    for (const k of ['loop', 'lvm']) {
      (cd[k] as SfJsonObject).sfClass = SF_CLASS.CowStorageBackend
    }
    const st = await h.engine.deploy('cow', localise(cd, h.dir))
    expect(st.components.filter(c => c.type === 'CowStorageBackend').map(c => c.state)).toEqual(['running', 'running'])
    expect((await filesUnder(join(h.dir, 'state', 'storage'))).filter(f => f.endsWith('.qcow2'))).toEqual(['cow/loop/domainLoopback.qcow2', 'cow/lvm/domainLVM.qcow2'])
    await h.engine.terminate('cow', 'normal')
    await expectAllGone(h)
  })

  it('hostile values that are not refused reach the tools as plain arguments: no shell ever runs them', async () => {
    const h = await host()
    const pwned = join(h.dir, 'pwned')
    const cd = localise(resolve('tutorial/localVirtualPool.sf'), h.dir)
    ;(cd.loop as SfJsonObject).baseImage = `${h.dir}/x$(touch ${pwned});touch ${pwned}\n.tar.gz`
    ;(cd.domain1 as SfJsonObject).extra = `quiet $(touch ${pwned}) \`touch ${pwned}\``
    const err = await h.engine.deploy('hostile', cd).catch(e => e)
    expect(err.name).toBe('EngineError')
    expect(err.path).toBe('loop')
    expect(await filesUnder(h.dir).then(fs => fs.filter(f => f.includes('pwned')))).toEqual([])
    await expectAllGone(h)
  })
})

afterAll(removeTempDirs)
