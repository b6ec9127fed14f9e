import type { Pos } from '../ast.ts'
import { CD } from './model.ts'
import type { RValue, RVector, Scalar } from './model.ts'

// SmartFrog's built-in functions (sf-language.md §10), evaluated on resolved operands in definition order.
// Arithmetic follows Java: Integer < Long < Float < Double widening, 32/64-bit wrap-around, integer division
// truncating toward zero, `==` as Java `equals` (type-sensitive).

export class FunctionError extends Error {
  override readonly name = 'FunctionError'
}

export type Args = Array<[string, RValue]>

const FN = 'org.smartfrog.sfcore.languages.sf.functions.'

type Num = Extract<Scalar, { type: 'int' | 'long' | 'float' | 'double' }>
const RANK = { int: 0, long: 1, float: 2, double: 3 } as const

function isNum (v: RValue): v is Num {
  return !(v instanceof CD) && (v.type === 'int' || v.type === 'long' || v.type === 'float' || v.type === 'double')
}

function num (v: RValue, fn: string): Num {
  if (!isNum(v)) throw new FunctionError(`${fn}: operand ${show(v)} is not a number`)
  return v
}

function widen (a: Num['type'], b: Num['type']): Num['type'] { return RANK[a] >= RANK[b] ? a : b }

function make (type: Num['type'], x: number | bigint, pos: Pos): Num {
  switch (type) {
    case 'int': return { type, value: Number(BigInt.asIntN(32, BigInt(x))), pos }
    case 'long': return { type, value: BigInt.asIntN(64, BigInt(x)), pos }
    case 'float': return { type, value: Math.fround(Number(x)), pos }
    case 'double': return { type, value: Number(x), pos }
  }
}

function arith (op: '+' | '*' | '-' | '/' | '%', a: Num, b: Num, pos: Pos): Num {
  const t = widen(a.type, b.type)
  if (t === 'int' || t === 'long') {
    const x = BigInt(a.value)
    const y = BigInt(b.value)
    if ((op === '/' || op === '%') && y === 0n) throw new FunctionError('/ by zero')
    const r = op === '+' ? x + y : op === '*' ? x * y : op === '-' ? x - y : op === '/' ? x / y : x % y
    return make(t, r, pos)
  }
  const x = Number(a.value)
  const y = Number(b.value)
  const r = op === '+' ? x + y : op === '*' ? x * y : op === '-' ? x - y : op === '/' ? x / y : x % y
  return make(t, r, pos)
}

function bool (v: RValue, fn: string): boolean {
  if (v instanceof CD || v.type !== 'bool') throw new FunctionError(`${fn}: operand ${show(v)} is not a Boolean`)
  return v.value
}

export function show (v: RValue): string {
  if (v instanceof CD) return 'a component'
  switch (v.type) {
    case 'string': return JSON.stringify(v.value)
    case 'null': return 'NULL'
    case 'vector': return `[|${v.items.map(show).join(', ')}|]`
    case 'ref': return v.text
    case 'apply': return v.assert ? 'ASSERT' : 'APPLY'
    case 'tbd': return 'TBD'
    case 'bytes': return v.text
    default: return String(v.value)
  }
}

/** Java `toString` as Concatenate uses it. */
export function javaString (v: RValue): string {
  if (v instanceof CD) return 'extends {...}'
  switch (v.type) {
    case 'string': return v.value
    case 'null': return 'NULL'
    case 'float': case 'double': return javaFloat(v.value)
    case 'vector': return `[${v.items.map(javaString).join(', ')}]`
    case 'ref': return v.text
    case 'bytes': return v.text
    case 'apply': return v.assert ? 'ASSERT {...}' : 'APPLY {...}'
    case 'tbd': return 'TBD'
    default: return String(v.value)
  }
}

function javaFloat (x: number): string {
  if (Number.isInteger(x) && Math.abs(x) < 1e7) return x.toFixed(1)
  return String(x)
}

/** Java `equals`: same class and same value; vectors element-wise. */
export function javaEquals (a: RValue, b: RValue): boolean {
  if (a instanceof CD || b instanceof CD) return a === b
  if (a.type !== b.type) return false
  switch (a.type) {
    case 'vector': {
      const bv = b as RVector
      return a.items.length === bv.items.length && a.items.every((x, i) => javaEquals(x, bv.items[i]!))
    }
    case 'null': case 'tbd': return true
    case 'ref': return a.text === (b as typeof a).text
    case 'bytes': return a.text === (b as typeof a).text
    case 'apply': return a === b
    default: return a.value === (b as typeof a).value
  }
}

function compare (a: RValue, b: RValue, fn: string): number {
  if (!isNum(a) && !(a instanceof CD) && a.type === 'string' && !(b instanceof CD) && b.type === 'string') {
    return a.value < b.value ? -1 : a.value > b.value ? 1 : 0
  }
  const x = num(a, fn)
  const y = num(b, fn)
  const t = widen(x.type, y.type)
  if (t === 'int' || t === 'long') { const p = BigInt(x.value); const q = BigInt(y.value); return p < q ? -1 : p > q ? 1 : 0 }
  const p = Number(x.value); const q = Number(y.value)
  return p < q ? -1 : p > q ? 1 : 0
}

function need (args: Args, name: string, fn: string): RValue {
  const a = args.find(([n]) => n === name)
  if (a === undefined) throw new FunctionError(`${fn}: missing attribute ${name}`)
  return a[1]
}

function opt (args: Args, name: string): RValue | undefined { return args.find(([n]) => n === name)?.[1] }

// `next` counts across the whole process, like SmartFrog's static counter (tcp16: successive calls differ).
let nextCounter = 0

/** State a function may need beyond its operands. */
export interface FnContext {
  pos: Pos
  /** Resolves a reference given as text (the `ref` function), relative to the APPLY's container. */
  ref (text: string, lazy: boolean): RValue
}

export function callBuiltin (cls: string, args: Args, ctx: FnContext): RValue {
  const pos = ctx.pos
  const name = cls.startsWith(FN) ? cls.slice(FN.length) : cls
  const operands = args.map(a => a[1])
  switch (name) {
    case 'Vector': return { type: 'vector', items: operands, pos }
    case 'Append': {
      const items: RValue[] = []
      for (const v of operands) if (!(v instanceof CD) && v.type === 'vector') items.push(...v.items)
      return { type: 'vector', items, pos }
    }
    case 'Concatenate': return { type: 'string', value: operands.map(javaString).join(''), pos }
    case 'Format': {
      const fmt = need(args, 'format', 'formatString')
      if (fmt instanceof CD || fmt.type !== 'string') throw new FunctionError('formatString: format must be a String')
      return {
        type: 'string',
        value: fmt.value.replace(/\$([0-9])/g, (_m, d: string) => {
          const s = opt(args, 's' + d)
          return s !== undefined && !(s instanceof CD) && s.type === 'string' ? s.value : ''
        }),
        pos
      }
    }
    case 'Sum': case 'Product': {
      const op = name === 'Sum' ? '+' : '*'
      let acc: Num = { type: 'int', value: op === '+' ? 0 : 1, pos }
      for (const v of operands) acc = arith(op, acc, num(v, name), pos)
      return acc
    }
    case 'Minus': case 'Divide': case 'Mod': {
      const op = name === 'Minus' ? '-' : name === 'Divide' ? '/' : '%'
      return arith(op, num(need(args, 'left', name), name), num(need(args, 'right', name), name), pos)
    }
    case 'And': return { type: 'bool', value: operands.every(v => bool(v, 'and')), pos }
    case 'Or': return { type: 'bool', value: operands.some(v => bool(v, 'or')), pos }
    case 'Xor': return { type: 'bool', value: operands.reduce((a, v) => a !== bool(v, 'xor'), false), pos }
    case 'Implies': {
      // a -> b -> c: every earlier operand true implies the last.
      const bs = operands.map(v => bool(v, 'implies'))
      const last = bs.pop() ?? true
      return { type: 'bool', value: !bs.every(Boolean) || last, pos }
    }
    case 'Not': return { type: 'bool', value: !bool(need(args, 'data', 'not'), 'not'), pos }
    case 'EQ': return { type: 'bool', value: javaEquals(need(args, 'left', 'EQ'), need(args, 'right', 'EQ')), pos }
    case 'NE': return { type: 'bool', value: !javaEquals(need(args, 'left', 'NE'), need(args, 'right', 'NE')), pos }
    case 'GE': return { type: 'bool', value: compare(need(args, 'left', name), need(args, 'right', name), name) >= 0, pos }
    case 'LE': return { type: 'bool', value: compare(need(args, 'left', name), need(args, 'right', name), name) <= 0, pos }
    case 'GT': return { type: 'bool', value: compare(need(args, 'left', name), need(args, 'right', name), name) > 0, pos }
    case 'LT': return { type: 'bool', value: compare(need(args, 'left', name), need(args, 'right', name), name) < 0, pos }
    case 'IfThenElse':
      return bool(need(args, 'if', 'IF'), 'IF') ? need(args, 'then', 'IF') : need(args, 'else', 'IF')
    case 'Switch': {
      // The parser numbers the pairs IF<n>/THEN<n> from its unique counter: take them in order.
      for (const [n, c] of args) {
        if (!n.startsWith('IF')) continue
        if (bool(c, 'SWITCH')) return need(args, 'THEN' + n.slice(2), 'SWITCH')
      }
      return { type: 'null', pos }
    }
    case 'Next': {
      const base = opt(args, 'base')
      const b = base !== undefined && isNum(base) ? Number(base.value) : 0
      return { type: 'int', value: b + nextCounter++, pos }
    }
    case 'Random': {
      const min = opt(args, 'min'); const max = opt(args, 'max'); const integer = opt(args, 'integer')
      const lo = min !== undefined && isNum(min) ? Number(min.value) : 0
      const hi = max !== undefined && isNum(max) ? Number(max.value) : 1
      const wantInt = integer === undefined || (!(integer instanceof CD) && integer.type === 'bool' && integer.value)
      if (wantInt) return { type: 'int', value: lo + Math.floor(Math.random() * (hi - lo + 1)), pos }
      return { type: 'double', value: lo + Math.random() * (hi - lo), pos }
    }
    case 'Date': return { type: 'string', value: new Date().toString(), pos }
    case 'Set': {
      const items: RValue[] = []
      for (const v of operands) {
        const vs = !(v instanceof CD) && v.type === 'vector' ? v.items : [v]
        for (const x of vs) if (!items.some(y => javaEquals(x, y))) items.push(x)
      }
      return { type: 'vector', items, pos }
    }
    case 'Ref': {
      const r = need(args, 'reference', 'ref')
      if (r instanceof CD || r.type !== 'string') throw new FunctionError('ref: reference must be a String')
      const lazy = opt(args, 'lazy')
      return ctx.ref(r.value, lazy !== undefined && !(lazy instanceof CD) && lazy.type === 'bool' && lazy.value)
    }
    case 'SystemComponent': return need(args, 'system', 'System')
    case 'UserInput': throw new FunctionError('userinput needs a terminal; sdpeer check does not ask questions')
    default:
      throw new FunctionError(`unknown function class ${cls}`)
  }
}

