import type { HostCapacity } from '../types.ts'

// The `--capacity memory=MiB,vcpus=N` form shared by the daemon's options and the sim driver.

export class CapacityParseError extends Error {
  override readonly name = 'CapacityParseError'
  readonly input: string
  constructor (input: string, message: string) {
    super(`--capacity ${JSON.stringify(input)}: ${message}`)
    this.input = input
  }
}

const UNITS: Record<string, number> = { '': 1, m: 1, mi: 1, mib: 1, mb: 1, g: 1024, gi: 1024, gib: 1024, gb: 1024, t: 1024 * 1024, ti: 1024 * 1024, tib: 1024 * 1024, tb: 1024 * 1024 }

/**
 * Parses `memory=4096,vcpus=8` (memory in MiB; `memory=16G` also accepted). Both keys are required, each once;
 * values are positive integers.
 */
export function parseCapacity (input: string): HostCapacity {
  const seen = new Map<string, number>()
  for (const part of input.split(',')) {
    const m = /^\s*([a-zA-Z]+)\s*=\s*(\d+)\s*([a-zA-Z]*)\s*$/.exec(part)
    if (m === null) throw new CapacityParseError(input, `expected key=value, got ${JSON.stringify(part)}`)
    const key = m[1].toLowerCase()
    if (key !== 'memory' && key !== 'vcpus') throw new CapacityParseError(input, `unknown key ${JSON.stringify(m[1])} (memory, vcpus)`)
    if (seen.has(key)) throw new CapacityParseError(input, `${key} given twice`)
    const unit = m[3].toLowerCase()
    let value = Number(m[2])
    if (key === 'memory') {
      const factor = UNITS[unit]
      if (factor === undefined) throw new CapacityParseError(input, `unknown memory unit ${JSON.stringify(m[3])}`)
      value *= factor
    } else if (unit !== '') {
      throw new CapacityParseError(input, 'vcpus takes a plain number')
    }
    if (!Number.isSafeInteger(value) || value <= 0) throw new CapacityParseError(input, `${key} must be a positive integer`)
    seen.set(key, value)
  }
  const memoryMiB = seen.get('memory')
  const vcpus = seen.get('vcpus')
  if (memoryMiB === undefined || vcpus === undefined) throw new CapacityParseError(input, 'needs both memory and vcpus')
  return { memoryMiB, vcpus }
}

export function formatCapacity (c: HostCapacity): string {
  return `memory=${c.memoryMiB},vcpus=${c.vcpus}`
}
