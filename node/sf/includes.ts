import { readFileSync, statSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { Attribute, Pos } from './ast.ts'
import { SfFileNotFoundError, type DiagnosticBag } from './diagnostics.ts'
import type { IncludeHook } from './syntax/grammar.ts'

// `#include` lookup and splicing (sf-language.md §6). SmartFrog looks in the process working directory, then on
// the class path with a leading "/" stripped; we look in: the working directory, the including file's own
// directory, each -I directory in order, then the bundled library. Parsed files are cached by absolute path for
// one top-level parse (components.sf is included by nearly everything); each use gets its own copy of the tree.

export const IncludeCode = {
  cycle: 'SF3001',
  unreadable: 'SF3002'
} as const

export const DEFAULT_LIBRARY_DIR = fileURLToPath(new URL('./library/', import.meta.url))

export interface IncludeOptions {
  cwd?: string
  includeDirs?: string[]
  libraryDir?: string
  /** Treat a missing `#include` like `#include?` (syntax-only checks: editors, corpus tests); default false. */
  ignoreMissingIncludes?: boolean
}

/** Parses one file's text into its top-level attributes, using `hook` for its own includes. */
export type ParseAttrs = (text: string, file: string, hook: IncludeHook) => Attribute[]

export interface IncludeSession {
  hook: IncludeHook
  /** Every file read, in the order read. */
  files: string[]
  /** Call around the root file so that an include of the root is seen as a cycle. */
  enterRoot: (file: string) => void
}

/** The candidates for `path` included from `fromFile`, in search order (duplicates removed). */
export function includeCandidates (path: string, fromFile: string, options: IncludeOptions): string[] {
  const rel = path.replace(/^\/+/, '')
  const cwd = options.cwd ?? process.cwd()
  const dirs = [cwd, dirname(resolve(cwd, fromFile)), ...(options.includeDirs ?? []), options.libraryDir ?? DEFAULT_LIBRARY_DIR]
  const seen = new Set<string>()
  const out: string[] = []
  for (const d of dirs) {
    const candidate = join(resolve(cwd, d), rel)
    if (seen.has(candidate)) continue
    seen.add(candidate)
    out.push(candidate)
  }
  return out
}

function isFile (p: string): boolean {
  try { return statSync(p).isFile() } catch { return false }
}

export function includeSession (options: IncludeOptions, diag: DiagnosticBag, parse: ParseAttrs): IncludeSession {
  const cache = new Map<string, Attribute[]>()
  const stack: string[] = []
  const files: string[] = []

  const hook: IncludeHook = (path: string, optional: boolean, at: Pos, fromFile: string): Attribute[] => {
    const candidates = includeCandidates(path, fromFile, options)
    const found = candidates.find(isFile)
    if (found === undefined) {
      if (optional || options.ignoreMissingIncludes === true) return []
      throw new SfFileNotFoundError(path, candidates, diag.positions.decode(at))
    }
    const abs = resolve(found)
    const cycleStart = stack.indexOf(abs)
    if (cycleStart >= 0) {
      const cycle = [...stack.slice(cycleStart), abs].join(' -> ')
      diag.error(IncludeCode.cycle, `include cycle: ${cycle}`, at)
      return []
    }
    const cached = cache.get(abs)
    if (cached) return structuredClone(cached)
    let text: string
    try {
      text = readFileSync(abs, 'utf8')
    } catch (err) {
      diag.error(IncludeCode.unreadable, `cannot read ${found}: ${(err as Error).message}`, at)
      return []
    }
    files.push(found)
    stack.push(abs)
    try {
      const attrs = parse(text, found, hook)
      cache.set(abs, attrs)
      return structuredClone(attrs)
    } finally {
      stack.pop()
    }
  }

  return {
    hook,
    files,
    enterRoot: (file: string) => {
      files.push(file)
      stack.push(resolve(options.cwd ?? process.cwd(), file))
    }
  }
}
