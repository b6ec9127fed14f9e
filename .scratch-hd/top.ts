import { readFileSync } from 'node:fs'
const p = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const byId = new Map(p.nodes.map((n: any) => [n.id, n]))
const self = new Map<number, number>()
const w0 = Number(process.env.W0 ?? 0), w1 = Number(process.env.W1 ?? Infinity)
let t = p.startTime, total = 0
p.samples.forEach((s: number, i: number) => { t += p.timeDeltas[i]; if (t < w0 || t > w1) return; total++; self.set(s, (self.get(s) ?? 0) + 1) })
const agg = new Map<string, number>()
for (const [id, c] of self) { const n: any = byId.get(id); const k = `${n.callFrame.functionName || '(anon)'} ${n.callFrame.url.replace(/.*node_modules\//, '').replace(/^file:\/\/\/work\/main\//,'')}:${n.callFrame.lineNumber}`; agg.set(k, (agg.get(k) ?? 0) + c) }
const idle = [...self].filter(([id]) => (byId.get(id) as any).callFrame.functionName === '(idle)').reduce((a, [, c]) => a + c, 0)
console.log('samples', total, 'idle', (idle / total * 100).toFixed(1) + '%')
for (const [k, c] of [...agg].sort((a, b) => b[1] - a[1]).slice(0, Number(process.argv[3] ?? 30))) console.log((c / (total - idle) * 100).toFixed(1).padStart(5) + '%', k)
// inclusive by package
const parent = new Map<number, number>()
for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id)
const pkg = new Map<string, number>()
for (const [id, c] of self) {
  const seen = new Set<string>()
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const u = (byId.get(cur) as any).callFrame.url as string
    const m = u.match(/node_modules\/((@[^/]+\/)?[^/]+)/)
    const k = m ? m[1] : u.startsWith('node:') ? u.split('/').slice(0,2).join('/') : u.includes('/work/main/') ? u.replace(/.*\/work\/main\//, '') : '(native)'
    seen.add(k)
  }
  for (const k of seen) pkg.set(k, (pkg.get(k) ?? 0) + c)
}
console.log('--- inclusive by module')
for (const [k, c] of [...pkg].sort((a, b) => b[1] - a[1]).slice(0, 25)) console.log((c / total * 100).toFixed(1).padStart(5) + '%', k)
