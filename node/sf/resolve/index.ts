import type { Pos, Reference, SfFile } from '../ast.ts'
import type { DiagnosticBag } from '../diagnostics.ts'
import { buildRoot, buildStats } from './build.ts'
import { restoreInlineBodies, TypeResolver } from './extends.ts'
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
const DEFAULT_PHASES = ['type', 'place', 'function', 'sfConfig', 'link']

/** A top-level `phaseList [| "type", ... |]` replaces the default phases and is removed (sf-language.md §1). */
function phaseList (root: CD, diags: DiagnosticBag): string[] {
  const i = root.indexOf('phaseList')
  if (i < 0) return DEFAULT_PHASES
  const v = root.vals[i]!
  const pos = root.poss[i]!
  root.removeAt(i)
  if (v instanceof CD || v.type !== 'vector' || v.items.some(x => x instanceof CD || x.type !== 'string')) {
    diags.error('SF4020', 'phaseList must be a primitive vector of phase names', pos)
    return DEFAULT_PHASES
  }
  const names = v.items.map(x => (x as { value: string }).value)
  for (const n of names) {
    if (!DEFAULT_PHASES.includes(n) && n !== 'print') {
      diags.warning('SF9020', `phase ${JSON.stringify(n)} is ignored: user phases name Java PhaseAction classes, which sdpeer does not run`, pos)
    }
  }
  return names
}

export function resolveTaken (holder: { file?: SfFile, placements?: number }, diags: DiagnosticBag, host: ResolveHost): Resolved {
  const env = {
    property: (name: string, isEnv: boolean): string | undefined =>
      isEnv ? host.env?.[name] : host.defines?.[name] ?? host.env?.[name],
    parseValue: host.parseValue
  }
  // Placements inside components built while parsing (ParseOptions.direct) were counted then.
  buildStats.placements = holder.placements ?? 0
  const root = buildRoot(holder.file!, diags)
  holder.file = undefined
  let config: CD | undefined
  const phases = phaseList(root, diags)
  if (!phases.includes('type')) restoreInlineBodies(root)
  for (const phase of phases) {
    switch (phase) {
      case 'type': new TypeResolver(diags, env).resolve(root); break
      case 'place': if (buildStats.placements > 0) placeAll(root, diags); break
      case 'function': constructAll(root, diags); break
      case 'sfConfig': {
        const i = root.indexOf('sfConfig')
        if (i < 0) {
          diags.error('SF6010', 'Unresolved Reference: HERE sfConfig (the file defines no sfConfig)', root.pos)
          return { root }
        }
        const c = root.vals[i]!
        if (!(c instanceof CD)) {
          diags.error('SF6011', 'the sfConfig attribute must be a component description', root.poss[i]!)
          return { root }
        }
        config = c
        break
      }
      case 'link':
        // SmartFrog links only inside sfConfig once it is selected; before that, over the whole root.
        new Linker(diags, { ...env, parseReference: host.parseReference }).resolveCD(config ?? root)
        break
    }
  }
  if (config === undefined) {
    const c = root.get('sfConfig')
    if (!(c instanceof CD)) {
      diags.error('SF6010', 'Unresolved Reference: HERE sfConfig (the file defines no sfConfig)', root.pos)
      return { root }
    }
    config = c
  }
  return { root, config }
}
