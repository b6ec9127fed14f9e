import { SF_CLASS } from '../sf/component-classes.ts'
import { isComponent } from '../sf/sfjson.ts'
import type { SfJsonObject } from '../sf/sfjson.ts'
import { specOf, unitDemand } from '../scheduler/pool-vms.ts'
import type { Scope } from '../scheduler/pool-vms.ts'
import { proveParts } from './auth.ts'
import { pathSegments as segments } from './split.ts'
import type { DeployAuth } from './auth.ts'
import type { PartPlan, PoolVmView } from './types.ts'

// Which parts of a deploy are one VM each, for the pool record: a child of a Schedulee that the scheduler placed
// (re-placeable when its host dies) or a VM the operator pinned with its own sfProcessHost (reported lost). A VM
// that shares its parent's host is no part of its own, and goes down with that host's part. A Schedulee child that
// is a compound holding VMs (a "computer": its disks and its VM) was placed whole by the scheduler, so it is
// re-placed whole by the scheduler too, with the demand it was placed by (the sum of its VMs, their base image),
// not re-deployed on any participant as the pool's other parts are.

/** The scopes from the root down to the component at `path` (innermost first), or undefined. */
function scopeAt (config: SfJsonObject, path: string): Scope | undefined {
  let scope: Scope = { node: config, parent: undefined }
  for (const s of segments(path)) {
    const next = scope.node[s]
    if (next === undefined || !isComponent(next)) return undefined
    scope = { node: next, parent: scope }
  }
  return scope
}

export function vmParts (pool: string, config: SfJsonObject, parts: readonly PartPlan[], auth?: DeployAuth): PoolVmView[] {
  const memo = new WeakMap<object, string>()
  const out: PoolVmView[] = []
  for (const part of parts) {
    if (part.path === '') continue
    const isVm = part.config.sfClass === SF_CLASS.XenDomain || typeof part.config.memory === 'number'
    const demand = { memoryMiB: typeof part.config.memory === 'number' ? part.config.memory : 512, vcpus: typeof part.config.vcpus === 'number' ? part.config.vcpus : 1 }
    const parent = part.parentPath !== undefined ? scopeAt(config, segments(part.path).slice(0, -1).join(':')) : undefined
    if (parent === undefined || parent.node.sfClass !== SF_CLASS.Schedulee) {
      if (isVm) out.push({ path: part.path, pinned: true, ...demand })
      continue
    }
    const node = scopeAt(config, part.path)?.node
    const unit = node !== undefined ? unitDemand(pool, part.path, node, parent) : undefined
    if (!isVm && unit === undefined) continue
    const spec = specOf(part.path, parent.node, parent)
    out.push({
      path: part.path,
      pinned: false,
      ...(isVm || unit === undefined ? demand : { memoryMiB: unit.memoryMiB, vcpus: unit.vcpus }),
      ...(unit?.image !== undefined ? { image: unit.image } : {}),
      ...(unit?.driver !== undefined ? { driver: unit.driver } : {}),
      ...(unit?.requires !== undefined ? { requires: unit.requires } : {}),
      ...(spec.hosts !== undefined ? { hosts: spec.hosts } : {}),
      plan: part,
      ...(auth !== undefined ? { auth: proveParts(pool, auth, [part], memo) } : {})
    })
  }
  return out
}
