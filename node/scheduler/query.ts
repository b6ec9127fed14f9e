// VMShop's attribute queries: `memory >= 1024 && hostname ~ "worker-*"`. A small recursive-descent parser to an AST
// and a tree-walking evaluator: no eval, no regular expression built from user text (the glob is matched by hand),
// so a query from a description or a peer can only ever compare values.
//
//   expr    := or
//   or      := and ( "||" and )*
//   and     := unary ( "&&" unary )*
//   unary   := "!" unary | primary
//   primary := "(" expr ")" | operand ( cmpop operand )?
//   cmpop   := "==" | "!=" | "<" | "<=" | ">" | ">=" | "~" | "!~"
//   operand := NUMBER | STRING | IDENT | "true" | "false"
// A bare identifier is true when the attribute is present and not false, 0 or "".
// Comparisons with a missing attribute are false (so `!(x == 1)` holds when x is absent).

import { QuerySyntaxError } from './errors.ts'
import type { AttrValue } from './types.ts'

export type QueryNode =
  | { kind: 'or' | 'and', left: QueryNode, right: QueryNode }
  | { kind: 'not', operand: QueryNode }
  | { kind: 'cmp', op: CmpOp, left: Operand, right: Operand }
  | { kind: 'truthy', operand: Operand }

export type CmpOp = '==' | '!=' | '<' | '<=' | '>' | '>=' | '~' | '!~'
export type Operand = { kind: 'attr', name: string } | { kind: 'lit', value: AttrValue }

interface Token { type: 'num' | 'str' | 'ident' | 'op' | 'end', text: string, value?: AttrValue, col: number }

const MAX_QUERY_LENGTH = 4096
const OPS = ['&&', '||', '==', '!=', '<=', '>=', '!~', '<', '>', '~', '!', '(', ')']

function lex (src: string, origin?: string): Token[] {
  const fail = (col: number, msg: string): never => { throw new QuerySyntaxError(src, col, msg, origin) }
  if (src.length > MAX_QUERY_LENGTH) fail(MAX_QUERY_LENGTH, `query longer than ${MAX_QUERY_LENGTH} characters`)
  const out: Token[] = []
  let i = 0
  while (i < src.length) {
    const c = src[i]
    const col = i + 1
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') { i++; continue }
    if (c === '"' || c === "'") {
      let s = ''
      let j = i + 1
      for (;;) {
        if (j >= src.length) fail(col, 'unterminated string')
        const d = src[j]
        if (d === c) break
        if (d === '\\') {
          const e = src[j + 1]
          if (e === undefined) fail(j + 1, 'unterminated string')
          s += e === 'n' ? '\n' : e === 't' ? '\t' : e
          j += 2
          continue
        }
        s += d
        j++
      }
      out.push({ type: 'str', text: src.slice(i, j + 1), value: s, col })
      i = j + 1
      continue
    }
    const num = /^-?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?/.exec(src.slice(i))
    if (num && (c !== '-' || /\d|\./.test(src[i + 1] ?? ''))) {
      out.push({ type: 'num', text: num[0], value: Number(num[0]), col })
      i += num[0].length
      continue
    }
    const id = /^[A-Za-z_][A-Za-z0-9_.\-]*/.exec(src.slice(i))
    if (id) {
      const text = id[0]
      if (text === 'true' || text === 'false') out.push({ type: 'num', text, value: text === 'true', col })
      else out.push({ type: 'ident', text, col })
      i += text.length
      continue
    }
    const op = OPS.find(o => src.startsWith(o, i))
    if (op) { out.push({ type: 'op', text: op, col }); i += op.length; continue }
    if (c === '=') fail(col, 'unexpected "=": use "==" to compare')
    if (c === '&' || c === '|') fail(col, `unexpected "${c}": use "${c}${c}"`)
    fail(col, `unexpected character ${JSON.stringify(c)}`)
  }
  out.push({ type: 'end', text: '', col: src.length + 1 })
  return out
}

const CMP_OPS = new Set(['==', '!=', '<', '<=', '>', '>=', '~', '!~'])

/** Parses a query; throws QuerySyntaxError with the 1-based column of the first problem. */
export function parseQuery (src: string, origin?: string): QueryNode {
  const toks = lex(src, origin)
  let p = 0
  const peek = (): Token => toks[p]
  const fail = (t: Token, msg: string): never => { throw new QuerySyntaxError(src, t.col, msg, origin) }
  const describe = (t: Token): string => t.type === 'end' ? 'end of query' : JSON.stringify(t.text)
  let depth = 0

  const operand = (): Operand => {
    const t = peek()
    if (t.type === 'ident') { p++; return { kind: 'attr', name: t.text } }
    if (t.type === 'num' || t.type === 'str') { p++; return { kind: 'lit', value: t.value as AttrValue } }
    return fail(t, `expected an attribute name, a number or a string, found ${describe(t)}`)
  }
  const primary = (): QueryNode => {
    const t = peek()
    if (t.type === 'op' && t.text === '(') {
      p++
      if (++depth > 64) fail(t, 'parentheses nested too deeply')
      const e = or()
      depth--
      const close = peek()
      if (close.type !== 'op' || close.text !== ')') fail(close, `expected ")" to close the "(" at column ${t.col}, found ${describe(close)}`)
      p++
      return e
    }
    const left = operand()
    const o = peek()
    if (o.type === 'op' && CMP_OPS.has(o.text)) {
      p++
      const right = operand()
      return { kind: 'cmp', op: o.text as CmpOp, left, right }
    }
    return { kind: 'truthy', operand: left }
  }
  const unary = (): QueryNode => {
    const t = peek()
    if (t.type === 'op' && t.text === '!') {
      p++
      if (++depth > 64) fail(t, 'negations nested too deeply')
      const operand = unary()
      depth--
      return { kind: 'not', operand }
    }
    return primary()
  }
  const and = (): QueryNode => {
    let left = unary()
    while (peek().type === 'op' && peek().text === '&&') { p++; left = { kind: 'and', left, right: unary() } }
    return left
  }
  const or = (): QueryNode => {
    let left = and()
    while (peek().type === 'op' && peek().text === '||') { p++; left = { kind: 'or', left, right: and() } }
    return left
  }
  if (peek().type === 'end') fail(peek(), 'empty query')
  const tree = or()
  if (peek().type !== 'end') fail(peek(), `expected "&&", "||" or end of query, found ${describe(peek())}`)
  return tree
}

/** Glob match with `*` (any run) and `?` (one character); iterative, linear-ish, no RegExp from user text. */
export function globMatch (pattern: string, text: string): boolean {
  let p = 0; let t = 0; let star = -1; let mark = 0
  while (t < text.length) {
    if (p < pattern.length && (pattern[p] === '?' || pattern[p] === text[t])) { p++; t++ } else if (p < pattern.length && pattern[p] === '*') { star = p++; mark = t } else if (star >= 0) { p = star + 1; t = ++mark } else return false
  }
  while (p < pattern.length && pattern[p] === '*') p++
  return p === pattern.length
}

function value (o: Operand, rec: Readonly<Record<string, AttrValue | undefined>>): AttrValue | undefined {
  return o.kind === 'lit' ? o.value : (Object.hasOwn(rec, o.name) ? rec[o.name] : undefined)
}

function asNumber (v: AttrValue): number | undefined {
  if (typeof v === 'number') return v
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v)
  return undefined
}

function compare (op: CmpOp, a: AttrValue, b: AttrValue): boolean {
  if (op === '~' || op === '!~') {
    const m = globMatch(String(b), String(a))
    return op === '~' ? m : !m
  }
  // Numbers compare as numbers (an attribute "2048" read from text still equals 2048); the rest as strings.
  const x = asNumber(a); const y = asNumber(b)
  const [l, r]: [number | string | boolean, number | string | boolean] =
    x !== undefined && y !== undefined && typeof a !== 'boolean' && typeof b !== 'boolean' ? [x, y] : [typeof a === 'boolean' ? a : String(a), typeof b === 'boolean' ? b : String(b)]
  switch (op) {
    case '==': return l === r
    case '!=': return l !== r
    case '<': return l < r
    case '<=': return l <= r
    case '>': return l > r
    case '>=': return l >= r
  }
}

/** Evaluates a parsed query over one attribute record. */
export function evaluate (q: QueryNode, rec: Readonly<Record<string, AttrValue | undefined>>): boolean {
  switch (q.kind) {
    case 'or': return evaluate(q.left, rec) || evaluate(q.right, rec)
    case 'and': return evaluate(q.left, rec) && evaluate(q.right, rec)
    case 'not': return !evaluate(q.operand, rec)
    case 'truthy': {
      const v = value(q.operand, rec)
      return v !== undefined && v !== false && v !== 0 && v !== ''
    }
    case 'cmp': {
      const a = value(q.left, rec); const b = value(q.right, rec)
      if (a === undefined || b === undefined) return false
      return compare(q.op, a, b)
    }
  }
}

/** A compiled query, cached by source: placement evaluates the same `requires` over many hosts. */
export function compileQuery (src: string, origin?: string): (rec: Readonly<Record<string, AttrValue | undefined>>) => boolean {
  const q = parseQuery(src, origin)
  return rec => evaluate(q, rec)
}

/** Filters VM records (the rows `sdpeer query` prints) by a query. */
export function queryRecords<T extends Readonly<Record<string, AttrValue | undefined>>> (src: string, records: readonly T[]): T[] {
  const match = compileQuery(src)
  return records.filter(r => match(r))
}
