// The host side of the view every peer places from: whenever the host's admission accounting changes (a
// reservation, a commit, a release), re-announce its load on the mesh. Changes are coalesced (a 20-VM pool makes
// 40 changes in a few ms; one announcement carries the final figure), so gossip stays small.

import type { Clock, Timer } from '../seams/clock.ts'
import type { HostAdmission } from './admission.ts'

export interface LoadAnnouncer {
  updateLoad (load: { memoryMb: number, vcpus: number, domains: number }): Promise<void>
}

/** Starts announcing `admission`'s figures through `node` (the MeshNode); returns the function that stops it. */
export function announceAdmissionLoad (node: LoadAnnouncer, admission: HostAdmission, clock: Clock, coalesceMs = 50): () => void {
  let timer: Timer | undefined
  let stopped = false
  const send = (): void => {
    timer = undefined
    if (stopped) return
    const free = admission.free()
    void node.updateLoad({
      memoryMb: admission.capacity.memoryMiB - free.memoryMiB,
      vcpus: admission.capacity.vcpus - free.vcpus,
      domains: admission.entries().length
    }).catch(() => {})
  }
  const previous = admission.onChange
  admission.onChange = (v) => {
    previous?.(v)
    timer ??= clock.setTimeout(send, coalesceMs)
  }
  send()
  return () => { stopped = true; timer?.cancel(); admission.onChange = previous }
}
