import type { SfJson } from '../../node/sf/sfjson.ts'

// Prints a value in .sf syntax, the form `sdpeer set` takes back: strings quoted, vectors `[| a, b |]`, component
// descriptions `{ name value; }`, references `LAZY ...` as written.

export function sfValue (v: SfJson, indent = ''): string {
  if (v === null) return 'NULL'
  if (typeof v === 'string') return JSON.stringify(v)
  if (typeof v === 'number' || typeof v === 'boolean') return String(v)
  if (Array.isArray(v)) return `[| ${v.map(x => sfValue(x, indent)).join(', ')} |]`
  if (typeof v.$ref === 'string') return v.$ref
  if (typeof v.$bytes === 'string') return v.$bytes
  const inner = indent + '  '
  const lines = Object.entries(v).filter(([k]) => !k.startsWith('$')).map(([k, x]) => `${inner}${k} ${sfValue(x, inner)};`)
  const prefix = v.$data === true ? 'extends DATA ' : ''
  return lines.length === 0 ? `${prefix}{}` : `${prefix}{\n${lines.join('\n')}\n${indent}}`
}

/** All attributes of a component, one `name value;` per line, as in a .sf file. */
export function sfAttributes (v: SfJson): string {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return sfValue(v) + '\n'
  return Object.entries(v).filter(([k]) => !k.startsWith('$')).map(([k, x]) => `${k} ${sfValue(x)};\n`).join('')
}
