// Placements per second on one peer: a Placer with a view of N hosts places VMs one after the other through real
// host admission behind an in-process transport (no network wait), so the figure is the peer's own work: ranking,
// power-of-d choice, the admission call, the view update. Goal: over 2,000/s.
//   npx node simulations/bench/scheduler-throughput.ts [--hosts 1000] [--vms 20000] [--seed 1]

import { HostAdmission } from '../../node/scheduler/admission.ts'
import { HostView } from '../../node/scheduler/host-view.ts'
import { Placer } from '../../node/scheduler/placer.ts'
import type { ReservationTransport } from '../../node/scheduler/placer.ts'
import { seededRandom } from '../../node/scheduler/random.ts'
import { realClock } from '../../node/seams/clock.ts'
import { makeWorkload } from '../scheduler/workload.ts'
import { numArgs } from './scheduler-args.ts'

const a = numArgs({ hosts: 1000, vms: 20000, seed: 1 })
for (const hosts of [a.hosts, 100, 20]) {
  const w = makeWorkload({ seed: a.seed, hosts, deployers: 1, poolsPerDeployer: Math.ceil(a.vms / 100), vmsPerPool: 100, fill: 0.8 })
  const adm = new Map(w.hosts.map(h => [h.host, new HostAdmission({ host: h.host, capacity: h.capacity, clock: realClock })]))
  const transport: ReservationTransport = {
    reserve: async (h, r) => (adm.get(h) as HostAdmission).reserve(r),
    commit: async (h, id) => (adm.get(h) as HostAdmission).commit(id),
    release: async (h, id) => (adm.get(h) as HostAdmission).release(id)
  }
  const view = new HostView({ clock: realClock })
  for (const h of w.hosts) {
    view.merge({ host: h.host, version: 0, driver: 'sim', capacity: h.capacity, used: { memoryMiB: 0, vcpus: 0 }, domains: 0, images: h.images ?? [], attributes: h.attributes ?? {} })
  }
  const placer = new Placer({ view, transport, clock: realClock, random: seededRandom(a.seed) }, { self: 'bench' })
  const vms = w.pools.flatMap(p => p.vms).slice(0, a.vms)
  const cpu0 = process.cpuUsage(); const t0 = performance.now()
  let placed = 0; let failed = 0
  for (const vm of vms) {
    try { await placer.reserveOne(vm, {}, 1); placed++ } catch { failed++ }
  }
  const wall = (performance.now() - t0) / 1000
  const cpu = process.cpuUsage(cpu0); const cpuS = (cpu.user + cpu.system) / 1e6
  console.log(`${String(hosts).padStart(5)} hosts: ${placed} placed (${failed} found no room) in ${wall.toFixed(2)} s wall, ${cpuS.toFixed(2)} s CPU: ` +
    `${Math.round(placed / wall)} placements/s wall, ${Math.round(placed / cpuS)}/s of CPU (ranking alone, wall: ${Math.round(placer.stats.placed / (placer.stats.rankingMs / 1000))}/s); goal >2000/s: ${placed / cpuS > 2000 ? 'met' : 'MISSED'}`)
}
