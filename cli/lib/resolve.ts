import { resolve } from 'node:path'
import type { CliIO } from '../command.ts'
import { DiagnosticBag, formatDiagnostic } from '../../node/sf/diagnostics.ts'
import type { SfJson, SfJsonObject } from '../../node/sf/sfjson.ts'
import { checkFile } from '../../node/sf/index.ts'
import { parseValue } from '../../node/sf/parser.ts'
import { buildValue } from '../../node/sf/resolve/build.ts'
import { CD } from '../../node/sf/resolve/model.ts'
import { valueToJson } from '../../node/sf/to-json.ts'

// Resolving on the client side, before anything is sent: the user sees the diagnostics of `sdpeer check`, and a
// broken description never reaches a daemon.

export async function resolveDescription (file: string, includeDirs: string[], io: CliIO): Promise<{ status: number, config?: SfJsonObject }> {
  let result
  try {
    result = checkFile(file, { cwd: io.cwd, includeDirs: includeDirs.map(d => resolve(io.cwd, d)) })
  } catch (err) {
    if ((err as Error).name === 'SfFileNotFoundError') {
      io.stderr.write(`sdpeer deploy: ${(err as Error).message}\n`)
      return { status: 2 }
    }
    throw err
  }
  for (const d of result.diagnostics) io.stderr.write(formatDiagnostic(d) + '\n')
  const errors = result.diagnostics.filter(d => d.severity === 'error').length
  if (errors > 0 || result.config === undefined) {
    io.stderr.write(`sdpeer deploy: ${file}: ${errors} error${errors === 1 ? '' : 's'}; nothing deployed\n`)
    return { status: 1 }
  }
  return { status: 0, config: result.config }
}

export class ValueSyntaxError extends Error {
  override readonly name = 'ValueSyntaxError'
}

/**
 * VALUE of `sdpeer set` in .sf syntax (`true`, `42`, `"text"`, `[| 1, 2 |]`, `LAZY x`) -> the JSON form the engine
 * takes; the engine then checks it against the component's schema.
 */
export function parseSfValue (text: string): SfJson {
  let v
  try {
    v = parseValue(text)
  } catch (err) {
    throw new ValueSyntaxError((err as Error).message)
  }
  const bag = new DiagnosticBag()
  const built = buildValue(v, new CD(null, v.pos), bag)
  if (bag.hasErrors) throw new ValueSyntaxError(bag.items.map(formatDiagnostic).join('; '))
  return valueToJson(built)
}
