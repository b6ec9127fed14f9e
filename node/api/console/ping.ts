import { createRequire } from 'node:module'
// Required, not imported: an ES import of node:http reads its lazy WebSocket getter, which loads undici, ~13 MiB
// of RSS in every daemon (BENCHMARKS.md, mesh).
const http = createRequire(import.meta.url)('node:http') as typeof import('node:http')
import type { SfJson } from '../../sf/sfjson.ts'

// The vGrid portal's "VM ping": does the guest's status page answer? A guest reachable from here has a forwarded port
// on 127.0.0.1 (qemu user networking); only that is asked, with a short timeout. Anything else is "unknown" rather
// than a guess: the console never connects to an address taken from a description.

export interface PingResult {
  status: 'up' | 'down' | 'unknown'
  detail: string
}

/** The forwarded port of a domain, from its attributes (the qemu option names). */
export function forwardedPort (attrs: SfJson): number | undefined {
  if (typeof attrs !== 'object' || attrs === null || Array.isArray(attrs)) return undefined
  for (const key of ['qemuForwardPort', 'forwardPort']) {
    const v = attrs[key]
    const n = typeof v === 'string' && /^[0-9]{1,5}$/.test(v) ? Number(v) : v
    if (typeof n === 'number' && Number.isInteger(n) && n >= 1 && n <= 65535) return n
  }
  return undefined
}

export async function pingGuest (attrs: SfJson, timeoutMs = 2000): Promise<PingResult> {
  const port = forwardedPort(attrs)
  if (port === undefined) return { status: 'unknown', detail: 'no forwarded port (set qemuForwardPort) to reach the guest from this host' }
  const url = `http://127.0.0.1:${port}/`
  return await new Promise<PingResult>(resolve => {
    const req = http.get(url, { timeout: timeoutMs, headers: { 'user-agent': 'sdpeer-console-ping' } }, res => {
      res.resume()
      resolve({ status: 'up', detail: `${url} answered HTTP ${res.statusCode ?? '?'}` })
    })
    req.on('timeout', () => { req.destroy(); resolve({ status: 'down', detail: `${url}: no answer within ${timeoutMs} ms` }) })
    req.on('error', err => { resolve({ status: 'down', detail: `${url}: ${(err as NodeJS.ErrnoException).code ?? err.message}` }) })
  })
}
