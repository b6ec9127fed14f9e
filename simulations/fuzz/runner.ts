import fc from 'fast-check'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { KNOWN_FAULTS, knownFaultCounts } from './targets.ts'
import type { FuzzTarget } from './targets.ts'

// Runs one target for a time budget and reports how many inputs it took, the slowest one and the heap it grew by.
// A fault makes fast-check shrink the input and throw with the seed and path that replay it.

export interface FuzzReport {
  name: string
  inputs: number
  ms: number
  slowestMs: number
  heapGrowthMB: number
  seed: number
}

// A full collection before each heap reading, so the growth reported is what the target retained, not garbage
// waiting for the collector (the same trick as node --expose-gc, enabled at run time).
setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

function retainedHeap (): number {
  gc()
  return process.memoryUsage().heapUsed
}

export function runTarget (target: FuzzTarget, budgetMs: number, seed: number): FuzzReport {
  let inputs = 0
  let slowest = 0
  const heap0 = retainedHeap()
  const t0 = performance.now()
  fc.assert(fc.property(target.input, x => {
    inputs++
    const s = performance.now()
    target.check(x)
    slowest = Math.max(slowest, performance.now() - s)
  }), { numRuns: Number.MAX_SAFE_INTEGER, interruptAfterTimeLimit: budgetMs, markInterruptAsFailure: false, seed })
  return {
    name: target.name,
    inputs,
    ms: Math.round(performance.now() - t0),
    slowestMs: Math.round(slowest),
    heapGrowthMB: Math.round((retainedHeap() - heap0) / 1e6),
    seed
  }
}

/** Known faults (in code other engineers own) hit so far, one line each; empty when none was hit. */
export function knownFaultLines (): string[] {
  return KNOWN_FAULTS.filter(k => (knownFaultCounts.get(k.id) ?? 0) > 0)
    .map(k => `known fault ${k.id}: hit ${knownFaultCounts.get(k.id)} time(s): ${k.note}`)
}

export function formatReport (r: FuzzReport): string {
  return `${r.name.padEnd(16)} ${String(r.inputs).padStart(9)} inputs in ${(r.ms / 1000).toFixed(1)} s, slowest ${r.slowestMs} ms, heap +${r.heapGrowthMB} MB (seed ${r.seed})`
}
