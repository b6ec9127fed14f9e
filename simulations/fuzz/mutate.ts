import fc from 'fast-check'

// Mutators for the fuzz targets: real inputs (valid .sf files, signed envelopes, valid wire messages) changed in
// small random ways reach far deeper into a parser or validator than random bytes, which mostly fail at the first
// character. Each mutator is a fast-check arbitrary, so failures shrink and replay from a seed.

const SF_TOKENS = [
  '{', '}', ';', ':', ',', '"', "'", '[|', '|]', '[', ']', '(', ')', '--', 'extends', 'LAZY', 'DATA', 'ATTRIB', 'PARENT',
  'ROOT', 'HERE', 'THIS', 'HOST', 'PROCESS', 'APPLY', 'ASSERT', 'IF', 'THEN', 'ELSE', 'FI', '#include "', '#include ?"',
  '"/etc/passwd"', 'sfConfig', 'Compound', 'VM', 'Prim', '#HEX#0a#', '0x', '1e999', '-', '9999999999999999999999', '1.5f',
  '2L', 'true', 'NULL', 'OPTIONAL', '/*', '*/', '//', '\n', '\t', '\\', '\u0000', '\uFFFF', '😀', ' ', '##', '@', '$', '`', '+', '&&', '||', '!', '<', '>=',
  'PROPERTY ', 'IPROPERTY ', 'ENVPROPERTY ', 'CONSTANT ', 'sfProcessHost "x";', ':a:b:c', '\r\n'
]

type TextOp = { kind: 'delete' | 'dup' | 'swap', at: number, len: number, to: number } | { kind: 'insert', at: number, token: string }

const textOp: fc.Arbitrary<TextOp> = fc.oneof(
  fc.record({ kind: fc.constantFrom('delete' as const, 'dup' as const, 'swap' as const), at: fc.nat(), len: fc.nat({ max: 64 }), to: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), token: fc.oneof({ weight: 4, arbitrary: fc.constantFrom(...SF_TOKENS) }, { weight: 1, arbitrary: fc.string({ maxLength: 8 }) }) })
)

function applyText (text: string, op: TextOp): string {
  const at = text.length === 0 ? 0 : op.at % (text.length + 1)
  if (op.kind === 'insert') return text.slice(0, at) + op.token + text.slice(at)
  const end = Math.min(text.length, at + op.len)
  const piece = text.slice(at, end)
  if (op.kind === 'delete') return text.slice(0, at) + text.slice(end)
  if (op.kind === 'dup') return text.slice(0, end) + piece + text.slice(end)
  const rest = text.slice(0, at) + text.slice(end)
  const to = rest.length === 0 ? 0 : op.to % (rest.length + 1)
  return rest.slice(0, to) + piece + rest.slice(to)
}

/** A seed text with 1..12 random edits. */
export function mutatedText (seeds: readonly string[]): fc.Arbitrary<string> {
  return fc.tuple(fc.constantFrom(...seeds), fc.array(textOp, { minLength: 1, maxLength: 12 }))
    .map(([seed, ops]) => ops.reduce(applyText, seed))
}

/** Random text over the .sf alphabet: tokens, identifiers and noise. */
export const sfishText: fc.Arbitrary<string> = fc.array(
  fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...SF_TOKENS) }, { weight: 2, arbitrary: fc.stringMatching(/^[a-zA-Z_][a-zA-Z0-9_]{0,8}$/) },
    { weight: 1, arbitrary: fc.string({ maxLength: 6 }) }, { weight: 1, arbitrary: fc.integer().map(String) }),
  { maxLength: 300 }
).map(parts => parts.join(' '))

/** Deep nesting, a classic stack breaker: `a extends { a extends { ... } }` or `[| [| ... |] |]`. */
export const deepText: fc.Arbitrary<string> = fc.tuple(fc.integer({ min: 100, max: 20_000 }), fc.constantFrom('cd', 'vector', 'ref', 'parens'))
  .map(([n, kind]) => {
    if (kind === 'cd') return 'sfConfig extends { ' + 'a extends { '.repeat(n) + '}'.repeat(n) + ' }'
    if (kind === 'vector') return `x ${'[| '.repeat(n)}1${' |]'.repeat(n)};`
    if (kind === 'ref') return `x ${Array(n).fill('PARENT').join(':')};`
    return `x ${'('.repeat(n)}1${')'.repeat(n)};`
  })

type JsonOp = { node: number, kind: 'replace' | 'delete' | 'add' | 'string' | 'number', value: unknown, key: string, n: number }

const jsonOp: fc.Arbitrary<JsonOp> = fc.record({
  node: fc.nat(),
  kind: fc.constantFrom('replace' as const, 'delete' as const, 'add' as const, 'string' as const, 'number' as const),
  value: fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom('', '__proto__', 'constructor', -1, 2 ** 53, 1e308, -0, 0.5, [], {}, null, 'ed25519:', 'x'.repeat(5000))),
  key: fc.oneof(fc.string({ maxLength: 10 }), fc.constantFrom('__proto__', 'constructor', '$digest', 'id', 'sig', 'type', 'op', 'auth')),
  n: fc.nat()
})

interface Slot { parent: Record<string, unknown> | unknown[], key: string | number }

function slots (root: unknown): Slot[] {
  const out: Slot[] = []
  const stack: unknown[] = [root]
  while (stack.length > 0 && out.length < 10_000) {
    const v = stack.pop()
    if (Array.isArray(v)) v.forEach((x, i) => { out.push({ parent: v, key: i }); stack.push(x) })
    else if (typeof v === 'object' && v !== null) for (const k of Object.keys(v)) { out.push({ parent: v as Record<string, unknown>, key: k }); stack.push((v as Record<string, unknown>)[k]) }
  }
  return out
}

function applyJson (root: unknown, op: JsonOp): unknown {
  const all = slots(root)
  if (all.length === 0) return op.kind === 'replace' ? op.value : root
  const { parent, key } = all[op.node % all.length]
  const get = (): unknown => (parent as Record<string | number, unknown>)[key]
  const set = (v: unknown): void => { Object.defineProperty(parent, key, { value: v, enumerable: true, writable: true, configurable: true }) }
  switch (op.kind) {
    case 'replace': set(structuredClone(op.value)); break
    case 'delete': if (Array.isArray(parent)) parent.splice(key as number, 1); else delete parent[key as string]; break
    case 'add': if (Array.isArray(parent)) parent.push(structuredClone(op.value)); else Object.defineProperty(parent, op.key, { value: structuredClone(op.value), enumerable: true, writable: true, configurable: true }); break
    case 'string': {
      const v = get()
      if (typeof v === 'string' && v.length > 0) {
        const i = op.n % v.length
        set(v.slice(0, i) + String.fromCharCode((v.charCodeAt(i) + 1 + (op.n % 7)) % 0x7f) + v.slice(i + 1))
      } else set(typeof v === 'object' && v !== null ? (JSON.stringify(v) ?? 'x') : String(v))
      break
    }
    case 'number': { const v = get(); set(typeof v === 'number' ? [v + 1, v - 1, -v, v * 2 ** 32, 0][op.n % 5] : op.n) }
  }
  return root
}

/** A seed JSON value (cloned) with 1..6 structural edits. */
export function mutatedJson<T> (seeds: readonly T[]): fc.Arbitrary<unknown> {
  return fc.tuple(fc.constantFrom(...seeds), fc.array(jsonOp, { minLength: 1, maxLength: 6 }))
    .map(([seed, ops]) => ops.reduce<unknown>(applyJson, structuredClone(seed)))
}
