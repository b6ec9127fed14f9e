// From a resolved pool (sfjson) to what the scheduler places: the children of every Schedulee (a VM, or a compound
// holding a VM and its disks, placed whole), with their Scheduler's settings, and the VMs pinned by sfProcessHost
// (never moved; reported failed when their host dies).
//
// VM attributes read: memory (MiB, default 256), vcpus (default 1), driver, baseImage (on the VM or on the storage
// backend its `storageBackend` LAZY reference names), imageSizeMiB, requires (a query over host attributes).

import { SF_CLASS } from '../sf/component-classes.ts'
import { isComponent, isEagerComponent, isRef } from '../sf/sfjson.ts'
import type { SfJson, SfJsonObject } from '../sf/sfjson.ts'
import type { SchedulerSpec, VmDemand } from './types.ts'

export class PoolDescriptionError extends Error {
  override readonly name = 'PoolDescriptionError'
  readonly path: string
  constructor (path: string, message: string) {
    super(`${path}: ${message}`)
    this.path = path
  }
}

export interface ScheduledVm { demand: VmDemand, spec: SchedulerSpec, schedulee: string }
export interface PinnedVm { demand: VmDemand, host: string }

export interface Scope { node: SfJsonObject, parent: Scope | undefined }

/** Follows `LAZY ATTRIB a:b`, `LAZY a:b`, `PARENT:a`: enough for the links schedulers and VMs use. */
function follow (text: string, scope: Scope): SfJson | undefined {
  const words = text.trim().split(/\s+/).filter(w => w !== 'LAZY' && w !== 'DATA')
  const path = words.filter(w => w !== 'ATTRIB').join(' ').split(':')
  let s: Scope | undefined = scope
  if (path[0] === 'PARENT') { s = s?.parent; path.shift() }
  // ATTRIB: the first part is looked up in the enclosing scopes, innermost first.
  let base: SfJson | undefined
  for (; s; s = s.parent) { if (Object.hasOwn(s.node, path[0])) { base = s.node[path[0]]; break } }
  for (const part of path.slice(1)) base = base !== undefined && isComponent(base) ? base[part] : undefined
  return base
}

const num = (v: SfJson | undefined, dflt: number): number => typeof v === 'number' ? v : dflt
const str = (v: SfJson | undefined): string | undefined => typeof v === 'string' ? v : undefined

function demandOf (pool: string, vmId: string, vm: SfJsonObject, scope: Scope): VmDemand {
  let image = str(vm.baseImage)
  let size = typeof vm.imageSizeMiB === 'number' ? vm.imageSizeMiB : undefined
  const sb = vm.storageBackend
  if (image === undefined && sb !== undefined && isRef(sb)) {
    const backend = follow(sb.$ref, scope)
    if (backend !== undefined && isComponent(backend)) {
      image = str(backend.baseImage)
      if (size === undefined && typeof backend.imageSizeMiB === 'number') size = backend.imageSizeMiB
    }
  }
  const d: VmDemand = { pool, vmId, memoryMiB: num(vm.memory, 256), vcpus: num(vm.vcpus, 1) }
  if (typeof vm.driver === 'string') d.driver = vm.driver
  if (image !== undefined) d.image = image
  if (size !== undefined) d.imageSizeMiB = size
  if (typeof vm.requires === 'string') d.requires = vm.requires
  if (!(d.memoryMiB > 0) || !(d.vcpus > 0)) throw new PoolDescriptionError(`${pool}/${vmId}`, 'memory and vcpus must be positive')
  return d
}

export function specOf (path: string, schedulee: SfJsonObject, scope: Scope): SchedulerSpec {
  const ref = schedulee.scheduler
  const s = ref === undefined ? undefined : isRef(ref) ? follow(ref.$ref, scope) : ref
  if (ref !== undefined && (s === undefined || !isComponent(s))) {
    throw new PoolDescriptionError(path, `scheduler ${isRef(ref) ? ref.$ref : ''} does not name a Scheduler`)
  }
  const hosts = (s as SfJsonObject | undefined)?.hosts
  if (hosts === undefined || hosts === null) return {}
  if (!Array.isArray(hosts) || hosts.some(h => typeof h !== 'string')) throw new PoolDescriptionError(path, 'Scheduler hosts must be a vector of host names')
  // An empty vector means what no vector means: every live host (the bundled schema requires the attribute).
  return hosts.length === 0 ? {} : { hosts: hosts as string[] }
}

const isVm = (c: SfJsonObject): boolean => c.sfClass === SF_CLASS.XenDomain || typeof c.memory === 'number'

/**
 * What one child of a Schedulee asks of its host. A VM asks its own memory and vcpus; a compound holding VMs (a
 * "computer": its disks and its VM, as the tutorial writes them) goes to one host whole, so it asks the sum of its
 * VMs, with the first base image, driver and host requirement found among them. Undefined: no VM inside.
 */
export function unitDemand (pool: string, id: string, child: SfJsonObject, parent: Scope): VmDemand | undefined {
  if (isVm(child)) return demandOf(pool, id, child, { node: child, parent })
  const parts: VmDemand[] = []
  const walk = (node: SfJsonObject, scope: Scope): void => {
    for (const [name, c] of Object.entries(node)) {
      if (!isEagerComponent(c)) continue
      if (isVm(c)) parts.push(demandOf(pool, `${id}/${name}`, c, { node: c, parent: scope }))
      else walk(c, { node: c, parent: scope })
    }
  }
  walk(child, { node: child, parent })
  if (parts.length === 0) return undefined
  const d: VmDemand = { pool, vmId: id, memoryMiB: parts.reduce((a, p) => a + p.memoryMiB, 0), vcpus: parts.reduce((a, p) => a + p.vcpus, 0) }
  const first = <K extends keyof VmDemand>(k: K): VmDemand[K] | undefined => parts.find(p => p[k] !== undefined)?.[k]
  const driver = first('driver'); if (driver !== undefined) d.driver = driver
  const image = first('image'); if (image !== undefined) d.image = image
  const size = first('imageSizeMiB'); if (size !== undefined) d.imageSizeMiB = size
  const requires = first('requires'); if (requires !== undefined) d.requires = requires
  return d
}

/** Walks the resolved pool: scheduled VMs (children of a Schedulee) and pinned ones (a VM with sfProcessHost). */
export function poolVms (pool: string, root: SfJsonObject): { scheduled: ScheduledVm[], pinned: PinnedVm[] } {
  const scheduled: ScheduledVm[] = []
  const pinned: PinnedVm[] = []
  const walk = (node: SfJsonObject, path: string, parent: Scope | undefined, host: string | undefined): void => {
    const scope: Scope = { node, parent }
    const here = str(node.sfProcessHost) ?? host
    if (node.sfClass === SF_CLASS.Schedulee) {
      const spec = specOf(path, node, scope)
      for (const [name, child] of Object.entries(node)) {
        if (!isEagerComponent(child)) continue
        const vmId = path ? `${path}/${name}` : name
        const demand = unitDemand(pool, vmId, child, scope)
        if (demand === undefined) continue
        if (str(child.sfProcessHost) !== undefined) throw new PoolDescriptionError(`${pool}/${vmId}`, 'a Schedulee child may not set sfProcessHost: the scheduler picks its host')
        scheduled.push({ demand, spec, schedulee: path })
      }
      return
    }
    if (isVm(node) && here !== undefined && path !== '') pinned.push({ demand: demandOf(pool, path, node, scope), host: here })
    for (const [name, child] of Object.entries(node)) {
      if (isEagerComponent(child)) walk(child, path ? `${path}/${name}` : name, scope, here)
    }
  }
  walk(root, '', undefined, undefined)
  return { scheduled, pinned }
}
