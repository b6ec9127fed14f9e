import { isIP } from 'node:net'

// `--console ADDR:PORT`. Loopback unless the operator says `--console-public`: the console changes and terminates
// pools, and its token is the only thing between it and whoever can reach the port.

export class ConsoleConfigError extends Error {
  override readonly name = 'ConsoleConfigError'
  readonly option: string
  constructor (option: string, message: string) {
    super(`${option}: ${message}`)
    this.option = option
  }
}

export interface ConsoleAddress { host: string, port: number }

export function isLoopback (host: string): boolean {
  if (host === 'localhost') return true
  if (isIP(host) === 4) return host.startsWith('127.')
  if (isIP(host) === 6) return host === '::1'
  return false
}

/** `127.0.0.1:8080`, `[::1]:8080`, `localhost:0` (0: any free port). */
export function parseConsoleAddress (text: string, allowPublic = false): ConsoleAddress {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:[\]]+)):([0-9]{1,5})$/.exec(text)
  if (!m) throw new ConsoleConfigError('--console', `${JSON.stringify(text)} is not ADDR:PORT (e.g. 127.0.0.1:8080, [::1]:8080)`)
  const host = m[1] ?? m[2]!
  const port = Number(m[3])
  if (port > 65535) throw new ConsoleConfigError('--console', `port ${port} is out of range`)
  if (m[1] !== undefined && isIP(host) !== 6) throw new ConsoleConfigError('--console', `${JSON.stringify(host)} is not an IPv6 address`)
  if (host !== 'localhost' && isIP(host) === 0) throw new ConsoleConfigError('--console', `${JSON.stringify(host)} is not an IP address (or localhost)`)
  if (!allowPublic && !isLoopback(host)) {
    throw new ConsoleConfigError('--console', `${host} is not a loopback address; the console can change and terminate pools, so pass --console-public to serve it beyond this machine`)
  }
  return { host, port }
}
