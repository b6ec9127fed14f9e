import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { StorageKind } from '../../node/engine/component.ts'
import type { StorageFactory } from '../../node/engine/host-io.ts'
import { SF_CLASS } from '../../node/sf/component-classes.ts'
import { makeBaseImage } from '../../node/demo/pools.ts'
import type { SfJson, SfJsonObject } from '../../node/sf/sfjson.ts'
import type { PreparedStorage, StorageBackend, StorageContext, TeardownOptions } from '../../node/storage/types.ts'

// Resolved descriptions as node/sf's checkText produces them (full sfClass names, LAZY refs as {"$ref"}), and a
// small file-backed storage backend for the lifecycle tests that are about the engine, not about mkfs.

export const lazy = (text: string): SfJson => ({ $ref: `LAZY ${text}` })

export function compound (attrs: SfJsonObject): SfJsonObject {
  return { sfClass: SF_CLASS.Compound, ...attrs }
}

export function bashShell (): SfJsonObject {
  return { sfClass: SF_CLASS.BashShell }
}

export function storage (kind: 'Loopback' | 'LVM' | 'Cow', attrs: SfJsonObject): SfJsonObject {
  return { sfClass: SF_CLASS[`${kind}StorageBackend`], shell: lazy('ATTRIB myShell'), ...attrs }
}

export function domain (attrs: SfJsonObject): SfJsonObject {
  return {
    sfClass: SF_CLASS.XenDomain,
    shell: lazy('ATTRIB myShell'),
    kernel: '/boot/vmlinuz-2.6-xen',
    gateway: '192.0.2.1',
    netmask: '255.255.255.0',
    ...attrs
  }
}

const made: string[] = []

export async function tempDir (prefix: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), `sdpeer-${prefix}-`))
  made.push(dir)
  return dir
}

/** Removes every temp dir this test file made (call from afterAll). */
export async function removeTempDirs (): Promise<void> {
  for (const d of made.splice(0)) await rm(d, { recursive: true, force: true })
}

/** A small base image tarball: what the examples' /data/xen/slc3-smartfrog.img stands for. */
export async function makeBaseTarball (dir: string): Promise<string> {
  return await makeBaseImage(dir, { hostname: 'base', motd: 'sdpeer test image' })
}

/** Every file under dir, relative, sorted. */
export async function filesUnder (dir: string): Promise<string[]> {
  try {
    return (await readdir(dir, { recursive: true, withFileTypes: true }))
      .filter(e => e.isFile())
      .map(e => join(e.parentPath, e.name).slice(dir.length + 1))
      .sort()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
    throw err
  }
}

export interface StorageCall { kind: StorageKind, op: 'prepare' | 'teardown', workDir: string, options?: TeardownOptions }

/** One file per volume in the work dir; saving writes a tar of the work dir. Records every call. */
export function fileStorage (calls: StorageCall[] = []): StorageFactory {
  return (kind, attrs) => {
    const name = String(attrs.domainName)
    const backend: StorageBackend = {
      kind,
      async prepare (ctx: StorageContext): Promise<PreparedStorage> {
        calls.push({ kind, op: 'prepare', workDir: ctx.workDir })
        if (attrs.storageFail) throw new Error(String(attrs.storageFail))
        const path = join(ctx.workDir, `${name}-disk.img`)
        await writeFile(path, 'disk')
        return { disks: [{ path, format: 'raw', target: 'xvda1', role: 'root' }], record: { path } }
      },
      async teardown (ctx: StorageContext, prepared: PreparedStorage, options: TeardownOptions): Promise<void> {
        calls.push({ kind, op: 'teardown', workDir: ctx.workDir, options })
        if (options.saveImageTo) await ctx.shell.run({ file: 'tar', args: ['-cf', options.saveImageTo, '-C', ctx.workDir, '.'] })
        if (!options.keepVolumes) await rm(String(prepared.record.path), { force: true })
      }
    }
    return backend
  }
}

/** Polls (real time) until `cond` holds; for steps that wait on real file I/O after a manual-clock event. */
export async function waitFor (cond: () => boolean | Promise<boolean>, ms = 5_000): Promise<void> {
  const end = Date.now() + ms
  while (!await cond()) {
    if (Date.now() > end) throw new Error(`condition not met within ${ms} ms`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}
