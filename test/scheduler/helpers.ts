// Small builders shared by the scheduler tests.

import type { HostState } from '../../node/scheduler/types.ts'

export function host (name: string, o: Partial<HostState> & { freeMiB?: number } = {}): HostState {
  const capacity = o.capacity ?? { memoryMiB: 4096, vcpus: 8 }
  const used = o.used ?? { memoryMiB: o.freeMiB !== undefined ? capacity.memoryMiB - o.freeMiB : 0, vcpus: 0 }
  return {
    host: name,
    version: o.version ?? 1,
    driver: o.driver ?? 'xen',
    capacity,
    used,
    domains: o.domains ?? 0,
    images: o.images ?? [],
    attributes: o.attributes ?? {},
    ...(o.diskFreeMiB !== undefined ? { diskFreeMiB: o.diskFreeMiB } : {})
  }
}
