import type { Pos } from '../ast.ts'
import type { Scalar } from './model.ts'

// `CONSTANT pkg.Class.FIELD` reads a static Java field by reflection in SmartFrog; sdpeer has no JVM, so a table of
// the constants descriptions actually use. An unknown name is an error, as an unknown class is in SmartFrog.

type Entry = ['int' | 'long' | 'double' | 'float' | 'bool' | 'string', number | bigint | boolean | string]

const TABLE: Record<string, Entry> = {
  'java.lang.Integer.MAX_VALUE': ['int', 2147483647],
  'java.lang.Integer.MIN_VALUE': ['int', -2147483648],
  'java.lang.Long.MAX_VALUE': ['long', 9223372036854775807n],
  'java.lang.Long.MIN_VALUE': ['long', -9223372036854775808n],
  'java.lang.Short.MAX_VALUE': ['int', 32767],
  'java.lang.Short.MIN_VALUE': ['int', -32768],
  'java.lang.Byte.MAX_VALUE': ['int', 127],
  'java.lang.Byte.MIN_VALUE': ['int', -128],
  'java.lang.Double.MAX_VALUE': ['double', Number.MAX_VALUE],
  'java.lang.Double.MIN_VALUE': ['double', Number.MIN_VALUE],
  'java.lang.Float.MAX_VALUE': ['float', 3.4028234663852886e38],
  'java.lang.Math.PI': ['double', Math.PI],
  'java.lang.Math.E': ['double', Math.E],
  'java.lang.Boolean.TRUE': ['bool', true],
  'java.lang.Boolean.FALSE': ['bool', false],
  'java.io.File.separator': ['string', '/'],
  'java.io.File.pathSeparator': ['string', ':'],
  'org.smartfrog.sfcore.prim.TerminationRecord.NORMAL': ['string', 'normal'],
  'org.smartfrog.sfcore.prim.TerminationRecord.ABNORMAL': ['string', 'abnormal'],
  'org.smartfrog.sfcore.prim.TerminationRecord.EXTERNAL_REFERENCE_DEAD': ['string', 'externalReferenceDead'],
  'org.smartfrog.SFSystem.RMI_PORT': ['int', 3800]
}

export function constantValue (name: string, pos: Pos): Scalar | undefined {
  const e = TABLE[name]
  if (e === undefined) return undefined
  const [type, value] = e
  switch (type) {
    case 'long': return { type, value: value as bigint, pos }
    case 'bool': return { type, value: value as boolean, pos }
    case 'string': return { type, value: value as string, pos }
    default: return { type, value: value as number, pos }
  }
}
