// Benchmark of the .sf parser alone (lexer + grammar + desugaring, no includes) on generated SmartDomains-style
// pools of 3 MB and 50 MB, and on 10,000-level nesting. Prints wall time, throughput and retained heap.
// Usage: npx node --expose-gc simulations/bench/sf-parse.ts [MB...]

import { parseText } from '../../node/sf/parser.ts'
import { nested, poolText } from '../../test/sf/parser/generate.ts'

const gc = (globalThis as { gc?: () => void }).gc ?? (() => {})
const sizes = process.argv.slice(2).map(Number).filter(n => n > 0)

for (const mb of sizes.length > 0 ? sizes : [3, 50]) {
  const { text, members } = poolText(mb * 2 ** 20)
  gc()
  const before = process.memoryUsage().heapUsed
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  const r = parseText(text, `pool${mb}.sf`)
  const ms = performance.now() - t0
  const cpu = process.cpuUsage(c0)
  const cpuMs = (cpu.user + cpu.system) / 1000
  gc()
  const retained = (process.memoryUsage().heapUsed - before) / 2 ** 20
  // CPU time too: the machine is shared, and wall time alone mostly measures the neighbours.
  console.log(`${mb} MB, ${members} domains: ${ms.toFixed(0)} ms wall, ${cpuMs.toFixed(0)} ms CPU (all threads) ` +
    `(${(text.length / 2 ** 20 / (ms / 1000)).toFixed(1)} MB/s), ` +
    `${r.diagnostics.length} diagnostics, AST ~${retained.toFixed(0)} MB of heap`)
}

for (const kind of ['braces', 'parens', 'ifs', 'unclosed'] as const) {
  const t0 = performance.now()
  const r = parseText(nested(kind, 10_000), `${kind}.sf`)
  console.log(`10,000 nested ${kind}: ${(performance.now() - t0).toFixed(0)} ms, ${r.diagnostics.map(d => d.code).join(' ')}`)
}
