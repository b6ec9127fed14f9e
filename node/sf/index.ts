import type { Pos, SfFile, Value } from './ast.ts'
import { DiagnosticBag } from './diagnostics.ts'
import type { Diagnostic } from './diagnostics.ts'
import { parseFile, parseReference, parseText, parseValue } from './parser.ts'
import type { ParseOptions, Parsed } from './parser.ts'
import type { SfJsonObject } from './sfjson.ts'
import { resolveTaken } from './resolve/index.ts'
import type { Resolved, ResolveHost } from './resolve/index.ts'
import { buildDetached, buildStats, buildValue } from './resolve/build.ts'
import { CD } from './resolve/model.ts'
import type { RValue } from './resolve/model.ts'
import { checkComponents } from './resolve/components-check.ts'
import { cdToJson } from './to-json.ts'
import type { PosTable } from './syntax/positions.ts'

// The public API of the .sf toolchain: parse, resolve, check our components, and hand back the JSON the engine
// deploys. `sdpeer check`, the engine and the mesh all come through here.

export interface CheckOptions extends Pick<ParseOptions, 'cwd' | 'includeDirs' | 'libraryDir'> {
  /** `-D name=value`: PROPERTY values, winning over the environment. */
  defines?: Record<string, string>
  /** Environment for ENVPROPERTY / PROPERTY (default: process.env). */
  env?: Record<string, string | undefined>
  /** false: leave `config` out (the CLI streams JSON from `resolved` instead of building the object). */
  json?: boolean
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
  return finish(parseDirect(o => parseFile(path, o), options), options)
}

export function checkText (text: string, file: string, options: CheckOptions = {}): CheckResult {
  return finish(parseDirect(o => parseText(text, file, o), options), options)
}

/**
 * Parses with the resolver's components built as the parser reads them (ParseOptions.direct): for a big pool
 * the syntax tree never exists whole. Building reports a few errors of its own (attribute names starting with
 * `$` or integers) in an order that depends on when it runs; when it has any, the file is parsed again the plain
 * way so that the diagnostics are exactly those of parse-then-build.
 */
function parseDirect (parse: (o: ParseOptions) => Parsed, options: CheckOptions): Parsed & { placements?: number } {
  const buildDiags = new FlagBag()
  const saved = buildStats.placements
  buildStats.placements = 0
  let parsed: Parsed
  let placements: number
  try {
    parsed = parse({ ...options, direct: node => buildDetached(node, buildDiags) as unknown as Value })
  } finally {
    placements = buildStats.placements
    buildStats.placements = saved
  }
  return buildDiags.failed ? parse(options) : { ...parsed, placements }
}

/** Only records that building reported something. */
class FlagBag extends DiagnosticBag {
  failed = false
  override add (): void { this.failed = true }
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

function finish (parsed: { file?: SfFile, diagnostics: Diagnostic[], positions: PosTable, placements?: number }, options: CheckOptions): CheckResult {
  const bag = new DiagnosticBag(parsed.positions)
  for (const d of parsed.diagnostics) bag.add(d.code, d.severity, d.message, d.pos)
  if (bag.hasErrors) return { diagnostics: bag.items }
  // 0 is where the root file starts (it is the session's first source).
  const pos: Pos = parsed.file?.attrs[0]?.pos ?? 0
  let resolved: Resolved
  try {
    resolved = resolveTaken(parsed, bag, host(options))
  } catch (e) {
    // Deeper nesting or longer link chains than the JavaScript stack allows: a diagnostic, not a crash.
    if (!(e instanceof RangeError)) throw e
    bag.error('SF4099', `description too deeply nested or chained to resolve (${e.message})`, pos)
    return { diagnostics: bag.items }
  }
  if (resolved.config !== undefined) checkComponents(resolved.config, bag)
  if (bag.hasErrors || resolved.config === undefined) return { diagnostics: bag.items, resolved }
  if (options.json === false) return { diagnostics: bag.items, resolved }
  return { config: cdToJson(resolved.config), diagnostics: bag.items, resolved }
}
