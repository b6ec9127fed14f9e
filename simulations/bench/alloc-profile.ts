// A V8 sampling heap profile (HeapProfiler.stopSampling's profile, as simulations/bench/mem-probe.mjs writes it on
// SIGUSR2), summed by module and by function: what a daemon allocated, freed or not.

const MiB = (b: number): number => b / 1048576

export interface SamplingNode { callFrame: { functionName: string, url: string, lineNumber: number }, selfSize: number, children: SamplingNode[] }
export interface SamplingProfile { head: SamplingNode }

/** What the entry peer allocated over the deploy rounds (freed or not): by module, and the top functions. */
export function printAllocations (p: SamplingProfile, callers = 0): void {
  const byModule = new Map<string, number>()
  const byFunction = new Map<string, number>()
  const short = (url: string): string => url.replace(/^file:\/\/\/.*?\/(node_modules\/(@[^/]+\/)?[^/]+|node\/[^/]+|cli|protocol)\/.*$/, '$1') || '(native)'
  let total = 0
  /** By function: bytes by the chain of its `callers` nearest callers. */
  const chains = new Map<string, Map<string, number>>()
  const stack: string[] = []
  const frame = (n: SamplingNode): string => `${n.callFrame.functionName || '(anonymous)'} ${n.callFrame.url.replace(/^file:\/\/\/.*?\/(node_modules|node|cli|protocol)\//, '$1/')}:${n.callFrame.lineNumber + 1}`
  const walk = (n: SamplingNode): void => {
    const f = frame(n)
    stack.push(f)
    if (n.selfSize > 0) {
      total += n.selfSize
      const m = short(n.callFrame.url)
      byModule.set(m, (byModule.get(m) ?? 0) + n.selfSize)
      byFunction.set(f, (byFunction.get(f) ?? 0) + n.selfSize)
      if (callers > 0) {
        const chain = stack.slice(-1 - callers, -1).reverse().join(' < ')
        const m = chains.get(f) ?? new Map<string, number>()
        m.set(chain, (m.get(chain) ?? 0) + n.selfSize)
        chains.set(f, m)
      }
    }
    for (const c of n.children) walk(c)
    stack.pop()
  }
  walk(p.head)
  const top = (m: Map<string, number>, k: number): string => [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, b]) => `      ${MiB(b).toFixed(2).padStart(7)} MiB  ${name}`).join('\n')
  console.log(`    allocated ${MiB(total).toFixed(1)} MiB (sampled); by module:\n${top(byModule, 15)}\n    by function:\n${top(byFunction, 25)}`)
  if (callers > 0) {
    for (const [f] of [...byFunction].sort((a, b) => b[1] - a[1]).slice(0, 14)) {
      console.log(`    ${f} called from:\n${top(chains.get(f) ?? new Map(), 4).replace(/^ {6}/gm, '        ')}`)
    }
  }
}

