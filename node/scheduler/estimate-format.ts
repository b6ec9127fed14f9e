// The text `sdpeer estimate FILE` prints: per VM, where it would go and its cost on each candidate host (cheapest
// first), or why no host fits. Pure formatting, so the CLI command stays a thin shell around estimate().

import type { EstimateRow } from './placement.ts'
import type { VmDemand } from './types.ts'

export interface EstimateFormatOptions {
  /** Candidates listed per VM; the rest are counted. Default 5. */
  maxCandidates?: number
}

export function formatEstimate (vms: readonly VmDemand[], rows: readonly EstimateRow[], options: EstimateFormatOptions = {}): string {
  const max = options.maxCandidates ?? 5
  const lines: string[] = []
  rows.forEach((row, i) => {
    const vm = vms[i]
    const what = `${vm.memoryMiB} MiB, ${vm.vcpus} vcpu${vm.vcpus === 1 ? '' : 's'}${vm.image !== undefined ? `, image ${vm.image}` : ''}`
    if (row.error) {
      lines.push(`${row.vmId} (${what}): NO HOST FITS`)
      for (const f of row.error.failures) lines.push(`    ${f.detail} (${f.hosts} host${f.hosts === 1 ? '' : 's'})`)
      return
    }
    lines.push(`${row.vmId} (${what}) -> ${row.host}`)
    for (const c of row.costs.slice(0, max)) {
      const parts = [`share after ${(100 * c.share).toFixed(0)}%`, vm.image === undefined ? 'no base image' : c.copy > 0 ? `copy ${c.copy.toFixed(1)} s` : 'image cached']
      lines.push(`  ${c.host === row.host ? '*' : ' '} ${c.host.padEnd(16)} cost ${c.cost.toFixed(2).padStart(8)}  (${parts.join(', ')})`)
    }
    if (row.costs.length > max) lines.push(`    ... ${row.costs.length - max} more candidates`)
  })
  return lines.join('\n') + '\n'
}
