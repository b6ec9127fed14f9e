// The cost of creating a VM on a host, after VMShop (the shop picks the VMPlant where the VM is cheapest to create):
// copying a base image the host has not cached costs its size over the transfer rate, and a loaded host costs more.
// Units are seconds-equivalent so the two terms can be weighed: a 1 GiB copy at 100 MiB/s weighs about 10 s.

import type { HostState, VmDemand } from './types.ts'

export interface CostModel {
  /** MiB/s at which a base image is copied to a host that does not cache it. Default 100. */
  transferMiBps: number
  /** Image size assumed when the VM does not say. Default 1024 MiB. */
  defaultImageSizeMiB: number
  /** Weight of the host's dominant-resource share after placement (0..1). Default 100. */
  loadWeight: number
  /** Weight per domain already running (start-up contention on the host). Default 0.1. */
  domainWeight: number
}

export const defaultCostModel: CostModel = {
  transferMiBps: 100,
  defaultImageSizeMiB: 1024,
  loadWeight: 100,
  domainWeight: 0.1
}

export interface CostBreakdown {
  total: number
  /** Seconds to copy the image here; 0 when cached (or when the VM names no image). */
  copy: number
  /** Dominant share (memory or vcpus) of the host once the VM runs there. */
  share: number
}

/** Dominant-resource share of `host` if `vm` were added: max of the memory and vcpu fractions. */
export function shareAfter (vm: Pick<VmDemand, 'memoryMiB' | 'vcpus'>, host: HostState): number {
  const m = host.capacity.memoryMiB > 0 ? (host.used.memoryMiB + vm.memoryMiB) / host.capacity.memoryMiB : 1
  const c = host.capacity.vcpus > 0 ? (host.used.vcpus + vm.vcpus) / host.capacity.vcpus : 1
  return Math.max(m, c)
}

export function imageCached (vm: VmDemand, host: HostState): boolean {
  return vm.image === undefined || host.images.includes(vm.image)
}

export function cost (vm: VmDemand, host: HostState, model: CostModel = defaultCostModel): CostBreakdown {
  const copy = imageCached(vm, host) ? 0 : (vm.imageSizeMiB ?? model.defaultImageSizeMiB) / model.transferMiBps
  const share = shareAfter(vm, host)
  return { total: copy + model.loadWeight * share + model.domainWeight * host.domains, copy, share }
}
