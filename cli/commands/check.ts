import { writeSync } from 'node:fs'
import { parseArgs } from 'node:util'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { checkFile } from '../../node/sf/index.ts'
import { formatDiagnostic, SfFileNotFoundError } from '../../node/sf/diagnostics.ts'
import { writeConfig } from '../../node/sf/print.ts'
import { writeJson } from '../../node/sf/to-json.ts'

export const summary = 'parse and resolve a .sf description, print the resolved sfConfig or its errors'
export const usage = `sdpeer check FILE [-I DIR]... [-D NAME=VALUE]... [--json | --print]

Parses FILE (includes spliced), resolves it as SmartFrog does (extends, placement, functions, links,
assertions and schemas) and checks every SmartDomains component against its schema.

  -I, --include DIR    also look for #include files in DIR (after the working directory and the
                       including file's directory; the bundled library is searched last)
  -D NAME=VALUE        value of PROPERTY NAME (wins over the environment variable NAME)
  --json               print the resolved sfConfig as JSON (the form the engine deploys)
  --print              print the resolved sfConfig in .sf syntax (the default)

Exit status: 0 resolved (warnings on stderr); 1 errors, each printed as FILE:LINE:COL: error SFnnnn: message;
2 usage error, or FILE or an #include not found (the paths tried are printed).`

export async function run (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      include: { type: 'string', short: 'I', multiple: true },
      define: { type: 'string', short: 'D', multiple: true },
      json: { type: 'boolean' },
      print: { type: 'boolean' }
    }
  })
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing FILE' : 'only one FILE may be checked at a time')
  if (values.json === true && values.print === true) throw new UsageError('--json and --print exclude each other')
  const defines: Record<string, string> = {}
  for (const d of values.define ?? []) {
    const eq = d.indexOf('=')
    if (eq <= 0) throw new UsageError(`-D wants NAME=VALUE, got ${JSON.stringify(d)}`)
    defines[d.slice(0, eq)] = d.slice(eq + 1)
  }
  let result
  try {
    result = checkFile(positionals[0]!, { cwd: io.cwd, includeDirs: values.include ?? [], defines, env: io.env, json: false })
  } catch (e) {
    if (e instanceof SfFileNotFoundError) {
      io.stderr.write(`sdpeer check: ${e.message}\n`)
      return 2
    }
    throw e
  }
  const errors = result.diagnostics.filter(d => d.severity === 'error')
  const warnings = result.diagnostics.filter(d => d.severity === 'warning')
  if (errors.length > 0) {
    io.stderr.write(result.diagnostics.map(formatDiagnostic).join('\n') + '\n')
    io.stderr.write(`${errors.length} error${errors.length === 1 ? '' : 's'}, ${warnings.length} warning${warnings.length === 1 ? '' : 's'}\n`)
    return 1
  }
  if (warnings.length > 0) io.stderr.write(warnings.map(formatDiagnostic).join('\n') + '\n')
  const out = outputOf(io)
  if (values.json === true) writeJson(result.resolved!.config!, out)
  else writeConfig(result.resolved!.config!, out)
  return 0
}

/**
 * Where the resolved tree goes, 64 KiB at a time. This process's own stdout, when it is a pipe or a terminal, is
 * written with write(2) directly: Node's stream for it finishes each write only when the event loop next runs,
 * keeping every chunk (and its request) alive until the whole tree is written: `sdpeer check --json pool.sf | jq`
 * peaked at ~150 MiB instead of ~100 for a 10,000-VM pool (BENCHMARKS.md). Files are already written synchronously.
 */
function outputOf (io: CliIO): (chunk: string) => void {
  const stdout = io.stdout as CliIO['stdout'] & { fd?: number, _type?: string }
  if (stdout === process.stdout && stdout.fd === 1 && stdout._type !== 'fs') return chunk => writeAll(1, chunk)
  return chunk => { io.stdout.write(chunk) }
}

function writeAll (fd: number, chunk: string): void {
  let rest = Buffer.from(chunk)
  while (rest.length > 0) {
    try {
      rest = rest.subarray(writeSync(fd, rest))
    } catch (err) {
      // A closed pipe (`sdpeer check big.sf | head`) ends the output, as the launcher does for the stream.
      if ((err as { code?: string }).code === 'EPIPE') process.exit(process.exitCode ?? 0)
      if ((err as { code?: string }).code !== 'EAGAIN') throw err
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1)
    }
  }
}
