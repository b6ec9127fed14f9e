// Seeded workloads for the scheduler simulation: hosts of three sizes caching a few base images each, and pools of
// VMs of four sizes, with host capacity scaled so the whole demand fills the mesh to `fill`.

import { seededRandom } from '../../node/scheduler/random.ts'
import type { VmDemand } from '../../node/scheduler/types.ts'
import type { SimHostInit } from './sim-mesh.ts'

export interface WorkloadOptions {
  seed: number
  hosts: number
  deployers: number
  poolsPerDeployer: number
  vmsPerPool: number
  /** Share of the mesh's memory the whole workload takes. Default 0.75. */
  fill?: number
  /** Base images in the catalogue; each host caches 3. Default 10. */
  images?: number
}

export interface PoolJob { deployer: string, pool: string, vms: VmDemand[] }
export interface Workload { hosts: SimHostInit[], pools: PoolJob[], imageSizes: Map<string, number> }

const SIZES = [
  { memoryMiB: 512, vcpus: 1, p: 0.3 },
  { memoryMiB: 1024, vcpus: 1, p: 0.35 },
  { memoryMiB: 2048, vcpus: 2, p: 0.25 },
  { memoryMiB: 4096, vcpus: 2, p: 0.1 }
]

export const hostName = (i: number): string => `host${String(i + 1).padStart(4, '0')}`
export const deployerName = (i: number): string => `deployer${String(i + 1).padStart(2, '0')}`

export function makeWorkload (o: WorkloadOptions): Workload {
  const rnd = seededRandom(o.seed)
  const nImages = o.images ?? 10
  const imageSizes = new Map<string, number>()
  for (let i = 0; i < nImages; i++) imageSizes.set(`img${i}`, 600 + rnd.int(2400))
  const images = [...imageSizes.keys()]
  const pools: PoolJob[] = []
  let demand = 0
  for (let d = 0; d < o.deployers; d++) {
    for (let p = 0; p < o.poolsPerDeployer; p++) {
      const pool = `pool-${d + 1}-${p + 1}`
      const vms: VmDemand[] = []
      for (let v = 0; v < o.vmsPerPool; v++) {
        let x = rnd.next(); let s = SIZES[0]
        for (const c of SIZES) { if (x < c.p) { s = c; break } x -= c.p }
        const image = images[rnd.int(images.length)]
        vms.push({ pool, vmId: `vm${v + 1}`, memoryMiB: s.memoryMiB, vcpus: s.vcpus, image, imageSizeMiB: imageSizes.get(image) })
        demand += s.memoryMiB
      }
      pools.push({ deployer: deployerName(d), pool, vms })
    }
  }
  const factors = Array.from({ length: o.hosts }, () => [0.5, 1, 2][rnd.int(3)])
  const sumF = factors.reduce((a, b) => a + b, 0)
  const total = demand / (o.fill ?? 0.75)
  const hosts: SimHostInit[] = factors.map((f, i) => {
    const memoryMiB = Math.max(8192, Math.round(total * f / sumF / 256) * 256)
    const cached = new Set<string>()
    while (cached.size < Math.min(3, images.length)) cached.add(images[rnd.int(images.length)])
    // vcpus generous enough that memory is the dominant resource, as on most hypervisor hosts.
    return { host: hostName(i), capacity: { memoryMiB, vcpus: Math.ceil(memoryMiB / 512) }, images: [...cached].sort(), attributes: { rack: `r${i % 4}` } }
  })
  return { hosts, pools, imageSizes }
}
