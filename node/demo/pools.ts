import { mkdir, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import { checkFile } from '../sf/index.ts'
import { formatDiagnostic } from '../sf/diagnostics.ts'
import { SF_CLASS } from '../sf/component-classes.ts'
import type { SfJsonObject } from '../sf/sfjson.ts'
import { components } from '../security/walk.ts'

// The two pools the demo deploys, resolved from the repository's examples exactly as `sdpeer deploy` would, then
// "localised": only what points outside this machine changes (the tutorial's /data/xen image, its 999.* placeholder
// addresses, disk sizes; the scheduler's host list becomes the demo's hosts). Everything else is the example's.

export const EXAMPLES = fileURLToPath(new URL('../../examples/', import.meta.url))
export const TUTORIAL = join(EXAMPLES, 'tutorial', 'distVirtualPool.sf')
export const SCHEDULED = join(EXAMPLES, 'scheduler', 'dispatch.sf')
export const QEMU_GUEST = join(EXAMPLES, 'qemu', 'oneGuest.sf')
const MAKE_BASE = join(EXAMPLES, 'qemu', 'make-base.sh')
/** The project's build cache (like node_modules): the tiny guest is built once and kept there, outside the demo. */
export const GUEST_DIR = fileURLToPath(new URL('../../.cache/guest', import.meta.url))

export class DemoPoolError extends Error {
  override readonly name = 'DemoPoolError'
  readonly file: string
  constructor (file: string, message: string) {
    super(`${file}: ${message}`)
    this.file = file
  }
}

export function resolveExample (file: string, defines: Record<string, string> = {}): SfJsonObject {
  const r = checkFile(file, { defines })
  const errors = r.diagnostics.filter(d => d.severity === 'error')
  if (errors.length > 0 || r.config === undefined) throw new DemoPoolError(file, errors.map(formatDiagnostic).join('\n'))
  return structuredClone(r.config)
}

/** A small root file system tarball for the storage backends to unpack (what /data/xen/slc3-smartfrog.img was). */
export async function makeBaseImage (root: string, etc: { hostname: string, motd: string } = { hostname: 'sdpeer-demo', motd: 'sdpeer demo guest' }): Promise<string> {
  const tree = join(root, 'base-tree')
  await mkdir(join(tree, 'etc'), { recursive: true })
  await writeFile(join(tree, 'etc', 'hostname'), `${etc.hostname}\n`)
  await writeFile(join(tree, 'etc', 'motd'), `${etc.motd}\n`)
  const tarball = join(root, 'base.tar.gz')
  await execa('tar', ['-czf', tarball, '-C', tree, '.'])
  await rm(tree, { recursive: true })
  return tarball
}

const STORAGE = new Set<string>([SF_CLASS.LoopbackStorageBackend, SF_CLASS.LVMStorageBackend, SF_CLASS.CowStorageBackend])

/** Rewrites the tutorial's placeholders; every sfProcessHost stays as written (machine9/machine10.cern.ch). */
export function localiseTutorial (cd: SfJsonObject, baseImage: string): SfJsonObject {
  let n = 10
  for (const { component: c } of components(cd)) {
    if (c.sfClass === SF_CLASS.XenDomain) {
      // TEST-NET-2: the scheduled pool's own addresses are in 192.0.2.0/24, and the mesh refuses an address twice.
      c.ip = `198.51.100.${n++}`
      c.gateway = '198.51.100.1'
      c.netmask = '255.255.255.0'
    }
    if (typeof c.sfClass === 'string' && STORAGE.has(c.sfClass)) {
      c.baseImage = baseImage
      c.volumeSize = '16M'
      c.swapSize = '8M'
    }
  }
  return cd
}

/** The scheduler may place the VMs on the demo's hosts (the example names host1..host3). */
export function localiseScheduled (cd: SfJsonObject, hosts: readonly string[]): SfJsonObject {
  for (const { component: c } of components(cd)) {
    if (c.sfClass === SF_CLASS.Scheduler) c.hosts = [...hosts]
  }
  return cd
}

/** Builds (or finds cached) the tiny test guest and its base image: examples/qemu/make-base.sh. */
export async function prepareGuest (): Promise<string> {
  await execa(MAKE_BASE, [GUEST_DIR], { stdin: 'ignore' })
  return GUEST_DIR
}

/**
 * oneGuest.sf once per host: the mesh refuses a domain name or an address twice, so each copy's guest is named after
 * its pool and has its own address (each guest's user-mode network is built around whatever address it has).
 */
export function localiseGuest (cd: SfJsonObject, name: string, index: number): SfJsonObject {
  for (const { component: c } of components(cd)) {
    if (c.sfClass === SF_CLASS.XenDomain) {
      c.hostname = name
      c.ip = `10.0.2.${15 + index}`
    }
    if (typeof c.sfClass === 'string' && STORAGE.has(c.sfClass)) c.domainName = name
  }
  return cd
}
