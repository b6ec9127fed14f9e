import { Writable } from 'node:stream'
import { pino } from 'pino'
import type { Logger } from 'pino'

// The daemon's log: JSON lines (pino) with host, pool and component path, human-readable lines when a person watches
// the terminal. The human form is a few lines here rather than pino-pretty, which is not a dependency.

export type { Logger }

export interface LoggerOptions {
  host: string
  /** Where lines go; the daemon passes stderr. */
  stream: NodeJS.WritableStream & { isTTY?: boolean }
  /** Force JSON lines even on a TTY. */
  json?: boolean
  level?: string
}

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' }
const SKIP = new Set(['level', 'time', 'msg', 'pid', 'hostname', 'host', 'pool', 'path'])

/** One JSON log record as a line for people: `12:00:01.123 INFO  pool:comp:comp  message key=value`. */
export function formatHuman (record: Record<string, unknown>): string {
  const time = typeof record.time === 'number' ? new Date(record.time).toISOString().slice(11, 23) : ''
  const level = (LEVELS[record.level as number] ?? String(record.level)).padEnd(5)
  const where = typeof record.pool === 'string'
    ? `${record.pool}${typeof record.path === 'string' && record.path !== '' ? `:${record.path}` : ''}  `
    : ''
  const extra: string[] = []
  for (const [k, v] of Object.entries(record)) {
    if (SKIP.has(k)) continue
    if (k === 'err' && typeof v === 'object' && v !== null) {
      extra.push(`err=${JSON.stringify((v as { message?: unknown }).message ?? v)}`)
      continue
    }
    extra.push(`${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
  }
  return `${time} ${level} ${where}${String(record.msg ?? '')}${extra.length > 0 ? '  ' + extra.join(' ') : ''}`
}

function humanStream (out: NodeJS.WritableStream): Writable {
  let partial = ''
  return new Writable({
    write (chunk: Buffer, _enc, cb) {
      const text = partial + chunk.toString('utf8')
      const lines = text.split('\n')
      partial = lines.pop() ?? ''
      for (const line of lines) {
        if (line === '') continue
        let record: Record<string, unknown>
        try { record = JSON.parse(line) } catch { out.write(line + '\n'); continue }
        out.write(formatHuman(record) + '\n')
      }
      cb()
    }
  })
}

export function createLogger (options: LoggerOptions): Logger {
  const human = options.json !== true && options.stream.isTTY === true
  const dest = human ? humanStream(options.stream) : options.stream
  return pino({
    level: options.level ?? 'info',
    base: { host: options.host },
    serializers: { err: pino.stdSerializers.err }
  }, dest as NodeJS.WritableStream as pino.DestinationStream)
}
