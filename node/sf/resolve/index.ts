import type { Pos, Reference, SfFile } from '../ast.ts'
import type { DiagnosticBag } from '../diagnostics.ts'
import { buildRoot, buildStats } from './build.ts'
import { TypeResolver } from './extends.ts'
import { placeAll } from './place.ts'
import { constructAll } from './construct.ts'
import { Linker } from './links.ts'
import { CD } from './model.ts'
import type { RValue } from './model.ts'

// The resolution pipeline as SmartFrog runs it (sf-language.md §1): type, place, function on the whole file root,
// then sfConfig selection, then link resolution (functions and predicates evaluated) inside sfConfig only.

export interface ResolveHost {
  /** `-D name=value` definitions; they win over the environment for PROPERTY. */
  defines?: Record<string, string>
  env?: Record<string, string | undefined>
  /** The parser's entry points for `ref` and IPROPERTY (injected: the resolver does not import the parser). */
  parseReference (text: string, pos: Pos): Reference
  parseValue (text: string, pos: Pos): RValue
}

export interface Resolved {
  root: CD
  /** ROOT:sfConfig after resolution; absent when missing or not a component. */
  config?: CD
}

export function resolveFile (file: SfFile, diags: DiagnosticBag, host: ResolveHost): Resolved {
  return resolveTaken({ file }, diags, host)
}

/**
 * Same, taking the AST out of `holder` once the tree is built, so that the parser's tree (the larger part of the
 * memory for a big pool) can be collected while resolution runs.
 */
export function resolveTaken (holder: { file?: SfFile }, diags: DiagnosticBag, host: ResolveHost): Resolved {
  const env = {
    property: (name: string, isEnv: boolean): string | undefined =>
      (isEnv ? undefined : host.defines?.[name]) ?? host.env?.[name] ?? host.defines?.[name],
    parseValue: host.parseValue
  }
  buildStats.placements = 0
  const root = buildRoot(holder.file!, diags)
  holder.file = undefined
  new TypeResolver(diags, env).resolve(root)
  if (buildStats.placements > 0) placeAll(root, diags)
  constructAll(root, diags)
  const i = root.indexOf('sfConfig')
  if (i < 0) {
    diags.error('SF6010', 'Unresolved Reference: HERE sfConfig (the file defines no sfConfig)', root.pos)
    return { root }
  }
  const config = root.vals[i]!
  if (!(config instanceof CD)) {
    diags.error('SF6011', 'the sfConfig attribute must be a component description', root.poss[i]!)
    return { root }
  }
  new Linker(diags, { ...env, parseReference: host.parseReference }).resolveCD(config)
  return { root, config }
}
