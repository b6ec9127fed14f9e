import type { Apply, Attribute, Pos, Value } from '../ast.ts'

// Parse-time desugaring of operators, IF/SWITCH, `[ ... ]` and `!` into APPLY nodes, as SmartFrog's parser
// builds them (sf-language.md §10): the resolver then only knows APPLY/ASSERT, references and components.

const FUNCTIONS = 'org.smartfrog.sfcore.languages.sf.functions.'

/** n-ary operators: operands become `unique<N>` attributes, in order. */
export const NARY_OPS: Readonly<Record<string, string>> = {
  '++': 'Concatenate',
  '<>': 'Append',
  '+': 'Sum',
  '*': 'Product',
  '&&': 'And',
  '||': 'Or',
  'x|': 'Xor',
  '->': 'Implies'
}

/** Binary operators: operands become `left` and `right`. */
export const BINARY_OPS: Readonly<Record<string, string>> = {
  '==': 'EQ',
  '!=': 'NE',
  '>=': 'GE',
  '<=': 'LE',
  '>': 'GT',
  '<': 'LT',
  '-': 'Minus',
  '/': 'Divide',
  '%': 'Mod'
}

/** Hands out the `unique<N>` names of one parse (SmartFrog's JVM-global `nextId`, made per call). */
export interface UniqueNames { next: () => string }

export function uniqueNames (): UniqueNames {
  let n = 0
  return { next: () => `unique${n++}` }
}

/**
 * The tag list of every untagged attribute: one shared frozen array (a 50 MB file has millions of attributes).
 * The tree is read-only for its consumers; mutating this throws instead of tagging every attribute at once.
 */
export const NO_TAGS: string[] = Object.freeze([]) as unknown as string[]

function attr (name: string, value: Value, pos: Pos): Attribute {
  return { name: [name], tags: NO_TAGS, value, pos }
}

function functionApply (fn: string, opPos: Pos, operands: Attribute[]): Apply {
  const body = [attr('sfFunctionClass', { type: 'string', value: FUNCTIONS + fn, pos: opPos }, opPos), ...operands]
  return { type: 'apply', assert: false, lazy: false, data: false, body, pos: opPos }
}

/** `(a OP b OP c)` for an n-ary operator, and `[a, b]` (operator "Vector"). */
export function naryApply (fn: string, operands: Value[], opPos: Pos, names: UniqueNames): Apply {
  return functionApply(fn, opPos, operands.map(v => attr(names.next(), v, v.pos)))
}

export function binaryApply (fn: string, left: Value, right: Value, opPos: Pos): Apply {
  return functionApply(fn, opPos, [attr('left', left, left.pos), attr('right', right, right.pos)])
}

export function notApply (operand: Value, opPos: Pos): Apply {
  return functionApply('Not', opPos, [attr('data', operand, operand.pos)])
}

export function ifApply (cond: Value, then: Value, otherwise: Value, pos: Pos): Apply {
  return functionApply('IfThenElse', pos, [attr('if', cond, cond.pos), attr('then', then, then.pos), attr('else', otherwise, otherwise.pos)])
}

/** `SWITCH {bindings} IF c1 THEN v1 ... ENDSWITCH`: bindings first, then `IF<n>`/`THEN<n>` pairs. */
export function switchApply (bindings: Attribute[], cases: Array<[Value, Value]>, pos: Pos, names: UniqueNames): Apply {
  const operands = [...bindings]
  for (const [cond, value] of cases) {
    const n = names.next().slice('unique'.length)
    operands.push(attr(`IF${n}`, cond, cond.pos), attr(`THEN${n}`, value, value.pos))
  }
  return functionApply('Switch', pos, operands)
}
