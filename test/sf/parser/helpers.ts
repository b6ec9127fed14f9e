import type { Diagnostic } from '../../../node/sf/diagnostics.ts'
import { formatDiagnostic } from '../../../node/sf/diagnostics.ts'

/** The tree without positions, for structural comparison. */
export function strip (v: unknown): unknown {
  if (Array.isArray(v)) return v.map(strip)
  if (v instanceof Uint8Array) return [...v]
  if (v !== null && typeof v === 'object') {
    const out: Record<string, unknown> = {}
    for (const [k, x] of Object.entries(v)) if (k !== 'pos') out[k] = strip(x)
    return out
  }
  return v
}

export const fmt = (ds: Diagnostic[]): string[] => ds.map(formatDiagnostic)
export const at = (ds: Diagnostic[]): string[] => ds.map(d => `${d.code}@${d.pos.line}:${d.pos.col}`)

export const FN = 'org.smartfrog.sfcore.languages.sf.functions.'
