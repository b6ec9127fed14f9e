import { DriverError } from '../types.ts'

// Fault-injection knobs of the simulated hypervisor (after Nomad's drivers/mock: start_error, run_for, kill_after).
// The daemon config gives defaults; a description's attributes (DomainSpec.options) override them per domain.

export interface SimKnobs {
  /** Time from start to running. */
  simBootMs: number
  /** When set, start fails with this message after the boot time, leaving nothing behind. */
  simStartFail?: string
  /** When set, the domain crashes this long after it became running. */
  simCrashAfterMs?: number
  /** Time a graceful shutdown takes. */
  simShutdownMs: number
  /** The guest ignores graceful shutdown: the driver destroys it when the shutdown timeout expires. */
  simIgnoreShutdown: boolean
}

export const DEFAULT_KNOBS: SimKnobs = { simBootMs: 0, simShutdownMs: 0, simIgnoreShutdown: false }

type Raw = Record<string, string | number | boolean | undefined>

/** Merges defaults and overrides, checking each value; unknown keys are ignored (they belong to other drivers). */
export function resolveKnobs (defaults: Partial<SimKnobs>, overrides: Raw, domain?: string): SimKnobs {
  const raw: Raw = { ...(defaults as Raw), ...overrides }
  const knobs: SimKnobs = {
    simBootMs: duration(raw, 'simBootMs', domain) ?? DEFAULT_KNOBS.simBootMs,
    simShutdownMs: duration(raw, 'simShutdownMs', domain) ?? DEFAULT_KNOBS.simShutdownMs,
    simIgnoreShutdown: flag(raw, 'simIgnoreShutdown', domain) ?? DEFAULT_KNOBS.simIgnoreShutdown
  }
  const crash = duration(raw, 'simCrashAfterMs', domain)
  if (crash !== undefined) knobs.simCrashAfterMs = crash
  const fail = raw.simStartFail
  // `simStartFail false` or "" in a description means "do not fail", so a child can switch off an inherited fault.
  if (fail !== undefined && fail !== false && fail !== '') knobs.simStartFail = fail === true ? 'simStartFail' : String(fail)
  return knobs
}

function duration (raw: Raw, key: keyof SimKnobs, domain: string | undefined): number | undefined {
  const v = raw[key]
  if (v === undefined) return undefined
  const n = typeof v === 'string' && /^\s*\d+(\.\d+)?\s*$/.test(v) ? Number(v) : v
  if (typeof n !== 'number' || !Number.isFinite(n) || n < 0) {
    throw new DriverError('sim', domain, `${key} must be a non-negative number of milliseconds, got ${JSON.stringify(v)}`)
  }
  return n
}

function flag (raw: Raw, key: keyof SimKnobs, domain: string | undefined): boolean | undefined {
  const v = raw[key]
  if (v === undefined) return undefined
  if (v === true || v === 'true') return true
  if (v === false || v === 'false') return false
  throw new DriverError('sim', domain, `${key} must be true or false, got ${JSON.stringify(v)}`)
}
