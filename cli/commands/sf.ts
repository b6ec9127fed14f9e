import { parseArgs } from 'node:util'
import { Writable } from 'node:stream'
import type { CliIO, CommandModule } from '../command.ts'
import { UsageError } from '../command.ts'
import { table, printable } from '../lib/status-format.ts'
import type { LsEntry } from '../../node/api/messages.ts'

// SmartFrog's habits, one word away: `sfStart localhost pool pool.sf` becomes `sdpeer sf start localhost pool
// pool.sf`. Each verb is translated into the sdpeer command that does the same and run through that command's own
// module, so options, messages and exit statuses are the sdpeer command's. The translation is printed on stderr
// (`sf: sdpeer deploy ...`) so that users learn the native form.

export const summary = 'SmartFrog\'s sfStart/sfTerminate/sfList/sfPing/sfParse, translated to sdpeer commands'
export const usage = `sdpeer sf start HOST APP FILE [-I DIR]... [--api PATH]
sdpeer sf terminate HOST APP [--abnormal] [--api PATH]
sdpeer sf list HOST [--api PATH]
sdpeer sf ping HOST APP [--api PATH]
sdpeer sf parse FILE [-I DIR]...

SmartFrog's command-line tools, as a SmartDomains user typed them, mapped onto sdpeer. There is no daemon to
contact at HOST: every request goes to this host's daemon (--api PATH or $SDPEER_API), which reaches the mesh.
HOST is a peer's host name (its \`sdpeer join --host\`); localhost, 127.0.0.1 and ::1 mean this daemon's host.

  sfStart HOST APP FILE     sdpeer deploy FILE --name APP --at HOST --wait
                            (--at is left out for localhost: the root stays on this host, unless the
                            description's own sfProcessHost places it)
  sfTerminate HOST APP      sdpeer terminate APP            (--abnormal for TERMINATE ABNORMAL; any peer can)
  sfList HOST               sdpeer ls                       (for a HOST other than localhost: only the pools
                                                             with a part on HOST)
  sfPing HOST APP           sdpeer status APP               (exit 0 when APP runs, 1 otherwise, as sfPing)
  sfParse FILE              sdpeer check FILE

Each translation is printed on stderr before it runs ("sf: sdpeer deploy ...").`

const LOCAL = new Set(['localhost', '127.0.0.1', '::1', 'localhost.localdomain'])

// Loaded on use, as main.ts loads commands: `sf parse` must not pay for the API client and the mesh types.
const TARGETS = {
  deploy: async () => await import('./deploy.ts'),
  terminate: async () => await import('./terminate.ts'),
  ls: async () => await import('./ls.ts'),
  status: async () => await import('./status.ts'),
  check: async () => await import('./check.ts')
} satisfies Record<string, () => Promise<CommandModule>>
type Target = keyof typeof TARGETS

async function command (name: Target): Promise<CommandModule> {
  return await TARGETS[name]()
}

function check (n: number, got: string[], verb: string, synopsis: string): void {
  if (got.length !== n) throw new UsageError(`sf ${verb}: expected ${synopsis}`)
}

/** Runs the sdpeer command, after printing the translation a user would type instead. */
async function translate (io: CliIO, name: Target, args: string[]): Promise<number> {
  io.stderr.write(`sf: sdpeer ${[name, ...args].map(quote).join(' ')}\n`)
  return await (await command(name)).run(args, io)
}

function quote (a: string): string {
  return /^[A-Za-z0-9_./:=@%+-]+$/.test(a) ? a : `'${a.replaceAll("'", "'\\''")}'`
}

/** Runs a command with its stdout captured (for the verbs that post-process --json output). */
async function captured (io: CliIO, name: Target, args: string[]): Promise<{ status: number, text: string }> {
  const chunks: Buffer[] = []
  const stdout = new Writable({ write (chunk, _enc, cb) { chunks.push(Buffer.from(chunk)); cb() } })
  const status = await (await command(name)).run(args, { ...io, stdout })
  return { status, text: Buffer.concat(chunks).toString('utf8') }
}

export async function run (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      include: { type: 'string', short: 'I', multiple: true, default: [] },
      api: { type: 'string' },
      abnormal: { type: 'boolean', default: false }
    },
    allowPositionals: true,
    strict: true
  })
  const [verb, ...rest] = positionals
  const api = values.api !== undefined ? ['--api', values.api] : []
  const includes = values.include.flatMap(d => ['-I', d])
  if (values.abnormal && verb !== 'terminate') throw new UsageError('--abnormal goes with sf terminate')
  switch (verb) {
    case 'start': {
      check(3, rest, verb, 'HOST APP FILE')
      const [host, app, file] = rest as [string, string, string]
      const at = LOCAL.has(host) ? [] : ['--at', host]
      return await translate(io, 'deploy', [file, '--name', app, ...at, '--wait', ...includes, ...api])
    }
    case 'terminate': {
      check(2, rest, verb, 'HOST APP')
      return await translate(io, 'terminate', [rest[1]!, ...(values.abnormal ? ['--abnormal'] : []), ...api])
    }
    case 'list': {
      check(1, rest, verb, 'HOST')
      const host = rest[0]!
      if (LOCAL.has(host)) return await translate(io, 'ls', api)
      io.stderr.write(`sf: sdpeer ls   (pools with a part on ${host})\n`)
      const r = await captured(io, 'ls', ['--json', ...api])
      if (r.status !== 0) return r.status
      const pools = (JSON.parse(r.text) as LsEntry[]).filter(p => p.hosts.includes(host))
      if (pools.length === 0) {
        io.stdout.write(`no pools on ${host}\n`)
        return 0
      }
      io.stdout.write(table([['POOL', 'STATE', 'HOSTS'], ...pools.map(p => [printable(p.pool), p.state, p.hosts.map(printable).join(',')])]))
      return 0
    }
    case 'ping': {
      check(2, rest, verb, 'HOST APP')
      const app = rest[1]!
      io.stderr.write(`sf: sdpeer status ${quote(app)}\n`)
      const r = await captured(io, 'status', [app, '--json', ...api])
      if (r.status !== 0) return r.status
      const state = (JSON.parse(r.text) as { state: string }).state
      io.stdout.write(`${app}: ${state}${state === 'running' ? ' (alive)' : ''}\n`)
      return state === 'running' ? 0 : 1
    }
    case 'parse': {
      check(1, rest, verb, 'FILE')
      if (values.api !== undefined) throw new UsageError('sf parse runs here: it takes no --api')
      return await translate(io, 'check', [rest[0]!, ...includes])
    }
    case undefined:
      throw new UsageError('which verb? start, terminate, list, ping or parse')
    default:
      throw new UsageError(`unknown verb ${JSON.stringify(verb)} (start, terminate, list, ping, parse)`)
  }
}
