// Summarises a V8 heap snapshot: self size by constructor (or node type), largest first. For finding where a
// mesh peer's heap goes (mesh-peer.ts writes one on SIGUSR2).
//
//   npx node simulations/membership/heap-summary.ts FILE.heapsnapshot [--top 30]

import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'

export interface HeapRow { name: string, count: number, selfBytes: number }

/** Self size by constructor name ("(array)", "(string)", … for internal node types), sorted largest first. */
export function summarise (snapshot: { snapshot: { meta: { node_fields: string[], node_types: unknown[] } }, nodes: number[], strings: string[] }): HeapRow[] {
  const fields = snapshot.snapshot.meta.node_fields
  const types = snapshot.snapshot.meta.node_types[0] as string[]
  const width = fields.length
  const iType = fields.indexOf('type'); const iName = fields.indexOf('name'); const iSize = fields.indexOf('self_size')
  const rows = new Map<string, HeapRow>()
  for (let i = 0; i < snapshot.nodes.length; i += width) {
    const type = types[snapshot.nodes[i + iType]]
    const name = type === 'object' || type === 'closure' ? snapshot.strings[snapshot.nodes[i + iName]] : `(${type})`
    const row = rows.get(name) ?? { name, count: 0, selfBytes: 0 }
    row.count++
    row.selfBytes += snapshot.nodes[i + iSize]
    rows.set(name, row)
  }
  return [...rows.values()].sort((a, b) => b.selfBytes - a.selfBytes)
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { top: { type: 'string', default: '30' } } })
  const rows = summarise(JSON.parse(await readFile(positionals[0], 'utf8')))
  const total = rows.reduce((s, r) => s + r.selfBytes, 0)
  console.log(`${(total / 1048576).toFixed(1)} MiB live in ${rows.reduce((s, r) => s + r.count, 0)} objects`)
  for (const r of rows.slice(0, Number(values.top))) console.log(`${(r.selfBytes / 1024).toFixed(0).padStart(8)} KiB ${String(r.count).padStart(8)}  ${r.name}`)
}
