import type { Pos } from './ast.ts'
import { DiagnosticBag } from './diagnostics.ts'
import type { Diagnostic } from './diagnostics.ts'
import { parseFile, parseReference, parseText, parseValue } from './parser.ts'
import type { ParseOptions } from './parser.ts'
import type { SfJsonObject } from './sfjson.ts'
import { resolveFile } from './resolve/index.ts'
import type { Resolved, ResolveHost } from './resolve/index.ts'
import { buildValue } from './resolve/build.ts'
import { CD } from './resolve/model.ts'
import type { RValue } from './resolve/model.ts'
import { checkComponents } from './resolve/components-check.ts'
import { cdToJson } from './to-json.ts'

// The public API of the .sf toolchain: parse, resolve, check our components, and hand back the JSON the engine
// deploys. `sdpeer check`, the engine and the mesh all come through here.

export interface CheckOptions extends Pick<ParseOptions, 'cwd' | 'includeDirs' | 'libraryDir'> {
  /** `-D name=value`: PROPERTY values, winning over the environment. */
  defines?: Record<string, string>
  /** Environment for ENVPROPERTY / PROPERTY (default: process.env). */
  env?: Record<string, string | undefined>
}

export interface CheckResult {
  /** The resolved sfConfig; absent when any error was found. */
  config?: SfJsonObject
  /** Errors and warnings, in the order found (parse first, then resolution, then component checks). */
  diagnostics: Diagnostic[]
  /** The resolver's tree (undefined when parsing failed), for printing in .sf syntax. */
  resolved?: Resolved
}

/** Reads, parses and resolves `path`; throws SfFileNotFoundError for a missing file or include. */
export function checkFile (path: string, options: CheckOptions = {}): CheckResult {
  const parsed = parseFile(path, options)
  return finish(parsed.file, parsed.diagnostics, options)
}

export function checkText (text: string, file: string, options: CheckOptions = {}): CheckResult {
  const parsed = parseText(text, file, options)
  return finish(parsed.file, parsed.diagnostics, options)
}

function host (options: CheckOptions): ResolveHost {
  return {
    defines: options.defines,
    env: options.env ?? process.env,
    parseReference: (text: string, pos: Pos) => ({ ...parseReference(text), pos }),
    parseValue: (text: string, pos: Pos): RValue => {
      // IPROPERTY text that does not parse is NULL, as in SmartFrog.
      try { return buildValue(parseValue(text), new CD(null, pos), new DiagnosticBag()) } catch { return { type: 'null', pos } }
    }
  }
}

function finish (file: Parameters<typeof resolveFile>[0], parseDiags: Diagnostic[], options: CheckOptions): CheckResult {
  const bag = new DiagnosticBag()
  for (const d of parseDiags) bag.add(d.code, d.severity, d.message, d.pos)
  if (bag.hasErrors) return { diagnostics: bag.items }
  const resolved = resolveFile(file, bag, host(options))
  if (resolved.config !== undefined) checkComponents(resolved.config, bag)
  if (bag.hasErrors || resolved.config === undefined) return { diagnostics: bag.items, resolved }
  return { config: cdToJson(resolved.config), diagnostics: bag.items, resolved }
}
