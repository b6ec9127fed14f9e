import { parseArgs } from 'node:util'
import { targets } from './targets.ts'
import { formatReport, knownFaultLines, runTarget } from './runner.ts'
import type { FuzzReport } from './runner.ts'

// The long fuzz run: `npx node simulations/fuzz/run.ts --minutes N [--seed S] [--target NAME]...`. Splits the time
// between the targets in rounds of at most a minute each (so an early stop still covers every target), prints each
// round and the totals, and exits 1 when any target found a fault (with the seed and path that replay it).

const { values } = parseArgs({
  options: {
    minutes: { type: 'string', default: '1' },
    seed: { type: 'string' },
    target: { type: 'string', multiple: true }
  }
})
const minutes = Number(values.minutes)
if (!(minutes > 0)) { console.error('--minutes must be a positive number'); process.exit(2) }
const chosen = values.target ? targets.filter(t => values.target!.includes(t.name)) : targets
if (chosen.length === 0) { console.error(`no such target; targets: ${targets.map(t => t.name).join(', ')}`); process.exit(2) }

const totalMs = minutes * 60_000
const perTarget = totalMs / chosen.length
const rounds = Math.max(1, Math.ceil(perTarget / 60_000))
const slice = perTarget / rounds
let seed = values.seed !== undefined ? Number(values.seed) : Date.now() % 2 ** 31
const totals = new Map<string, { inputs: number, ms: number, slowestMs: number }>()
let faults = 0

console.log(`fuzzing ${chosen.map(t => t.name).join(', ')} for ${minutes} min: ${rounds} round(s) of ${(slice / 1000).toFixed(0)} s per target`)
for (let round = 0; round < rounds; round++) {
  for (const t of chosen) {
    let r: FuzzReport
    try {
      r = runTarget(t, slice, seed++)
    } catch (err) {
      faults++
      const cause = (err as Error).cause as Error | undefined
      console.log(`FAULT in ${t.name}:\n${(err as Error).stack ?? String(err)}\n${cause?.stack ?? ''}`)
      continue
    }
    console.log(`round ${round + 1}: ${formatReport(r)}`)
    const sum = totals.get(t.name) ?? { inputs: 0, ms: 0, slowestMs: 0 }
    totals.set(t.name, { inputs: sum.inputs + r.inputs, ms: sum.ms + r.ms, slowestMs: Math.max(sum.slowestMs, r.slowestMs) })
  }
}
console.log('\ntotals:')
let all = 0
for (const [name, s] of totals) {
  all += s.inputs
  console.log(`  ${name.padEnd(16)} ${String(s.inputs).padStart(10)} inputs  ${(s.inputs / (s.ms / 1000)).toFixed(0).padStart(6)}/s  slowest ${s.slowestMs} ms`)
}
for (const line of knownFaultLines()) console.log(`  ${line}`)
console.log(`  ${'all'.padEnd(16)} ${String(all).padStart(10)} inputs, ${faults} fault(s), rss ${Math.round(process.memoryUsage().rss / 1e6)} MB`)
process.exit(faults > 0 ? 1 : 0)
