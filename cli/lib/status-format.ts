import type { ComponentStatus, EngineEvent, PoolStatus } from '../../node/engine/types.ts'

// How pools look on the terminal and in `--json`. The JSON form is a contract (scripts parse it): exactly
// {"pool", "state", "components": [{"path", "type", "host", "state", "reason"?}]}, nothing more.

export interface PoolJson {
  pool: string
  state: string
  components: Array<{ path: string, type: string, host: string, state: string, reason?: string }>
}

export function poolJson (p: PoolStatus): PoolJson {
  return {
    pool: p.pool,
    state: p.state,
    components: p.components.map((c: ComponentStatus) => {
      const out: PoolJson['components'][number] = { path: c.path, type: c.type, host: c.host, state: c.state }
      if (c.reason !== undefined) out.reason = c.reason
      return out
    })
  }
}

/** Aligned columns; the last column is not padded. */
export function table (rows: string[][]): string {
  const widths: number[] = []
  for (const r of rows) r.forEach((cell, i) => { widths[i] = Math.max(widths[i] ?? 0, cell.length) })
  return rows.map(r => r.map((cell, i) => i === r.length - 1 ? cell : cell.padEnd(widths[i]!)).join('  ').trimEnd()).join('\n') + '\n'
}

/** Control characters from a description or a log never reach the terminal raw (no escape-sequence tricks). */
export function printable (s: string): string {
  return s.replace(/[\x00-\x08\x0b-\x1f\x7f\x9b]/g, c => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`)
}

export function poolText (p: PoolStatus): string {
  const head = `pool ${printable(p.pool)}: ${p.state}${p.termination ? ` (${p.termination.type} at ${printable(p.termination.path || '(root)')}: ${printable(p.termination.reason)})` : ''}\n`
  const rows = [['COMPONENT', 'TYPE', 'HOST', 'STATE', 'REASON']]
  for (const c of p.components) rows.push([printable(c.path === '' ? '(root)' : c.path), c.type, printable(c.host), c.state, printable(c.reason ?? '')])
  return head + table(rows)
}

export function poolsText (pools: PoolStatus[]): string {
  if (pools.length === 0) return 'no pools\n'
  return table([['POOL', 'STATE', 'COMPONENTS', 'RUNNING'], ...pools.map(p => [
    printable(p.pool), p.state, String(p.components.length), String(p.components.filter(c => c.state === 'running').length)
  ])])
}

/** One line of `deploy --wait` progress: `  loop                running`, with the message when it says more. */
export function eventLine (e: EngineEvent): string {
  const where = e.path === '' ? '(root)' : e.path
  const what = e.state ?? e.kind
  const more = e.message !== '' && e.message !== what ? `  ${printable(e.message)}` : ''
  return `  ${printable(where).padEnd(20)} ${what.padEnd(11)}${more}`.trimEnd()
}
