// Canonical JSON: the one byte string a signer and a verifier agree on, whatever process or JSON library built the
// value. Object keys sorted by UTF-16 code units (as JavaScript's default sort), no whitespace, numbers as
// JSON.stringify writes them. Values JSON cannot carry faithfully (NaN, Infinity, undefined, functions, class
// instances) are refused rather than silently dropped: a dropped field would be an unsigned field.

export class CanonicalJsonError extends Error {
  override readonly name = 'CanonicalJsonError'
  /** Dotted path of the offending value, e.g. `config.computer1.memory`. */
  readonly path: string
  constructor (path: string, message: string) {
    super(`${path === '' ? 'value' : path}: ${message}`)
    this.path = path
  }
}

/** Nesting bound: a hostile body cannot overflow the stack of the peer encoding it. */
export const MAX_CANONICAL_DEPTH = 128

export function canonicalJson (value: unknown, maxDepth = MAX_CANONICAL_DEPTH): string {
  const out: string[] = []
  write(value, '', 0, maxDepth, out)
  return out.join('')
}

function write (v: unknown, path: string, depth: number, maxDepth: number, out: string[]): void {
  if (v === null || typeof v === 'boolean' || typeof v === 'string') { out.push(JSON.stringify(v)); return }
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new CanonicalJsonError(path, 'numbers must be finite')
    // -0 and 0 are one JSON number; make them one canonical text too.
    out.push(Object.is(v, -0) ? '0' : JSON.stringify(v))
    return
  }
  if (typeof v !== 'object') throw new CanonicalJsonError(path, `a ${typeof v} is not JSON`)
  if (depth >= maxDepth) throw new CanonicalJsonError(path, `nests deeper than ${maxDepth}`)
  if (Array.isArray(v)) {
    out.push('[')
    for (let i = 0; i < v.length; i++) {
      if (i > 0) out.push(',')
      write(v[i], `${path}[${i}]`, depth + 1, maxDepth, out)
    }
    out.push(']')
    return
  }
  const proto = Object.getPrototypeOf(v)
  if (proto !== Object.prototype && proto !== null) throw new CanonicalJsonError(path, 'only plain objects are JSON')
  const keys = Object.keys(v).sort()
  out.push('{')
  let first = true
  for (const k of keys) {
    const x = (v as Record<string, unknown>)[k]
    if (x === undefined) throw new CanonicalJsonError(path === '' ? k : `${path}.${k}`, 'undefined is not JSON')
    if (!first) out.push(',')
    first = false
    out.push(JSON.stringify(k), ':')
    write(x, path === '' ? k : `${path}.${k}`, depth + 1, maxDepth, out)
  }
  out.push('}')
}
