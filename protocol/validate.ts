import { ProtocolValidationError } from './errors.ts'

// Small checkers for hand-written validators: each throws ProtocolValidationError naming the path.

export type Obj = Record<string, unknown>

export function obj (v: unknown, path: string): Obj {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new ProtocolValidationError(path, 'expected an object')
  return v as Obj
}

export function str (v: unknown, path: string, max: number, min = 1): string {
  if (typeof v !== 'string') throw new ProtocolValidationError(path, 'expected a string')
  if (v.length < min || v.length > max) throw new ProtocolValidationError(path, `length ${v.length} outside ${min}..${max}`)
  return v
}

export function int (v: unknown, path: string, min = 0, max = Number.MAX_SAFE_INTEGER): number {
  if (typeof v !== 'number' || !Number.isInteger(v)) throw new ProtocolValidationError(path, 'expected an integer')
  if (v < min || v > max) throw new ProtocolValidationError(path, `${v} outside ${min}..${max}`)
  return v
}

export function num (v: unknown, path: string, min: number, max: number): number {
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ProtocolValidationError(path, 'expected a finite number')
  if (v < min || v > max) throw new ProtocolValidationError(path, `${v} outside ${min}..${max}`)
  return v
}

export function bool (v: unknown, path: string): boolean {
  if (typeof v !== 'boolean') throw new ProtocolValidationError(path, 'expected a boolean')
  return v
}

export function arr (v: unknown, path: string, max: number): unknown[] {
  if (!Array.isArray(v)) throw new ProtocolValidationError(path, 'expected an array')
  if (v.length > max) throw new ProtocolValidationError(path, `${v.length} items, at most ${max}`)
  return v
}

export function oneOf<T extends string> (v: unknown, path: string, values: readonly T[]): T {
  if (typeof v !== 'string' || !(values as readonly string[]).includes(v)) {
    throw new ProtocolValidationError(path, `expected one of ${values.join(', ')}`)
  }
  return v as T
}

export function strs (v: unknown, path: string, maxItems: number, maxLen: number): string[] {
  return arr(v, path, maxItems).map((s, i) => str(s, `${path}[${i}]`, maxLen))
}

/** Refuses keys a validator does not know, so a message cannot smuggle data past it. */
export function onlyKeys (o: Obj, path: string, keys: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!keys.includes(k)) throw new ProtocolValidationError(path === '' ? k : `${path}.${k}`, 'unknown field')
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder('utf-8', { fatal: true })

/** JSON bytes of a value; used by codecs whose messages are small and validated on receipt. */
export function jsonBytes (v: unknown): Uint8Array {
  return encoder.encode(JSON.stringify(v))
}

/** Parses JSON bytes, refusing invalid UTF-8 and anything over `limit` before parsing. */
export function parseJsonBytes (bytes: Uint8Array, limit: number, path = ''): unknown {
  if (bytes.byteLength > limit) throw new ProtocolValidationError(path, `${bytes.byteLength} bytes exceeds the limit of ${limit}`)
  let text: string
  try { text = decoder.decode(bytes) } catch { throw new ProtocolValidationError(path, 'not valid UTF-8') }
  try { return JSON.parse(text) } catch { throw new ProtocolValidationError(path, 'not valid JSON') }
}
