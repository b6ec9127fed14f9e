import type { Apply, Attribute, ComponentNode, Pos, Primitive, Prototype, Reference, RefPart, Value } from '../ast.ts'
import type { Token, TokenKind } from '../lexer.ts'
import { BINARY_OPS, NARY_OPS, NO_TAGS, binaryApply, ifApply, naryApply, notApply, switchApply } from './desugar.ts'
import { ATTR_START, MAX_DEPTH, NAMED_PARTS, REF_START, SyntaxCode, TokenStream, describe } from './token-stream.ts'

export { MAX_DEPTH, SyntaxCode, describe }
export type { GrammarContext, IncludeHook } from './token-stream.ts'

// Recursive-descent parser of SmartFrog 3.18's grammar (sf-language.md §3). It never throws on bad input:
// each error is one diagnostic at the offending token, then the parser skips to a sensible point (the closing
// bracket of the construct, `;`, `}` or the next token that can start an attribute) and goes on.
// Recursion is bounded by MAX_DEPTH so that 10,000 nested braces give a diagnostic, not a stack overflow.

export class Grammar extends TokenStream {
  /**
   * The one array for a recurring one-word attribute name or reference text (`shell`, `LAZY ATTRIB myShell`): a
   * pool repeats them hundreds of thousands of times, and the tree is read-only for its consumers (ast.ts), so
   * they share it. One table per parse (keyed by its DiagnosticBag, shared by the included files).
   */
  #tables?: SharedTables
  #shared (): SharedTables {
    if (this.#tables !== undefined) return this.#tables
    let t = SHARED.get(this.ctx.diag)
    if (t === undefined) { t = { names: new Map(), refs: new Map() }; SHARED.set(this.ctx.diag, t) }
    this.#tables = t
    return t
  }

  // ---- entry points -------------------------------------------------------------------------------

  /** File ::= ( "extends" "{" AttrList "}" | AttrList ) EOF */
  file (): Attribute[] {
    const attrs: Attribute[] = []
    this.guardStack(() => this.#file(attrs))
    return attrs
  }

  #file (attrs: Attribute[]): void {
    if (this.peek() === 'extends') {
      this.next()
      if (this.peek() === '{') {
        for (const a of this.#body()) attrs.push(a) // not push(...): a whole file can exceed the argument limit
      } else {
        this.unexpected('"{" after a whole-file "extends"')
      }
    }
    for (;;) {
      this.#attrList(attrs)
      if (this.peek() === 'EOF') break
      // Only a stray closer stops an attribute list at top level.
      this.error(SyntaxCode.strayClose, `unexpected ${describe(this.tok)} with no matching opening bracket`, this.tok.pos)
      this.next()
    }
  }

  /** A lone value (Component | SimpleValue) then EOF; null after a diagnostic. */
  lone (what: 'value' | 'reference'): Value | null {
    let v: Value | null = null
    this.guardStack(() => { v = this.#lone(what) })
    return v
  }

  #lone (what: 'value' | 'reference'): Value | null {
    let v: Value | null
    if (what === 'reference') {
      v = this.peek() === 'LAZY' || this.peek() === 'DATA' || REF_START.has(this.peek()) || this.peek() === 'OPTIONAL'
        ? this.#reference(true)
        : (this.unexpected('a reference'), null)
    } else {
      v = this.peek() === 'extends' ? this.#component() : this.#simpleValue()
    }
    if (this.peek() !== 'EOF') this.unexpected('end of input')
    return v
  }

  // ---- attribute lists ---------------------------------------------------------------------------

  /** AttrList ::= ( Attribute | Include | ";" )*  — stops before `}`, EOF or another closer. */
  #attrList (attrs: Attribute[]): void {
    for (;;) {
      const k = this.peek()
      if (k === 'EOF' || k === '}') return
      if (k === ';') { this.next(); continue }
      if (k === '#include' || k === '#include?' || k === '#codebase') { this.#include(attrs); continue }
      if (ATTR_START.has(k)) {
        const errors = this.syntaxErrors
        attrs.push(this.#attribute())
        if (this.syntaxErrors > errors) this.skipStatement()
        continue
      }
      this.unexpected('an attribute name')
      this.skipStatement()
    }
  }

  /** `{ AttrList }` — the current token is `{`. */
  #body (): Attribute[] {
    const open = this.tok
    const attrs: Attribute[] = []
    if (!this.enter()) return attrs
    this.next()
    this.#attrList(attrs)
    if (this.peek() === '}') {
      this.next()
    } else {
      this.error(SyntaxCode.unclosed, `"{" opened at ${this.lineCol(open.pos)} is never closed (found ${describe(this.tok)})`, this.tok.pos)
    }
    this.leave()
    return exact(attrs)
  }

  /** Include ::= [ "#codebase" String ] ( "#include" | "#include?" ) String */
  #include (attrs: Attribute[]): void {
    if (this.peek() === '#codebase') {
      this.next()
      // Code bases name remote jars; we have none, so the string is parsed and ignored.
      if (this.peek() === 'STRING') this.next()
      else { this.unexpected('a code base string after "#codebase"'); return }
      if (this.peek() !== '#include' && this.peek() !== '#include?') { this.unexpected('"#include" after "#codebase"'); return }
    }
    const directive = this.next()
    if (this.peek() !== 'STRING') {
      this.unexpected(`a file name string after "${directive.image}"`)
      // `#include foo.sf`: the word was meant as the file name; dropping it avoids a bogus attribute `foo.sf`.
      if (this.peek() === 'WORD') this.next()
      return
    }
    const path = this.next().value as string
    const included = this.ctx.include(path, directive.kind === '#include?', directive.pos, this.fileName)
    for (const a of included) attrs.push(a)
  }

  /** Attribute ::= [ "[" Tags "]" ] AttrName Value */
  #attribute (): Attribute {
    const pos = this.tok.pos
    let tags = NO_TAGS
    if (this.peek() === '[') {
      tags = []
      const open = this.next()
      while (this.peek() === 'WORD' || this.peek() === 'STRING') {
        tags.push(this.next().value as string)
        if (this.peek() === ',') this.next()
      }
      this.close(']', open)
      tags = exact(tags)
    }
    const name = this.#attrName()
    const value = this.#attrValue()
    return { name, tags, value, pos }
  }

  /** AttrName ::= "--" | STRING | WORD [ ":" AttrName ] */
  #attrName (): string[] {
    const name: string[] = []
    for (;;) {
      const t = this.tok
      if (t.kind === '--') { this.next(); name.push(this.ctx.names.next()); return exact(name) }
      if (t.kind === 'STRING') { this.next(); name.push(t.value as string); return exact(name) }
      if (t.kind !== 'WORD') {
        this.unexpected(name.length === 0 ? 'an attribute name' : 'a name part after ":"')
        if (name.length === 0) name.push('')
        return name
      }
      this.next()
      if (name.length === 0 && this.peek() !== ':') {
        // Built directly, attributes die as soon as their component is built: a shared array would only outlive them.
        if (this.ctx.direct !== undefined) return [t.value as string]
        // Words come interned from the lexer, so this lookup hashes each distinct name once.
        const names = this.#shared().names
        const word = t.value as string
        let one = names.get(word)
        if (one === undefined) { one = [word]; names.set(word, one) }
        return one
      }
      name.push(t.value as string)
      if (this.peek() !== ':') return exact(name)
      this.next()
    }
  }

  /** Value ::= Component | SimpleValue | ";" */
  #attrValue (): Value {
    const t = this.tok
    if (t.kind === ';') { this.next(); return { type: 'null', pos: t.pos } }
    if (t.kind === 'extends') return this.#component()
    if (t.kind === '}' || t.kind === 'EOF') {
      this.unexpected('a value (or ";")')
      return { type: 'null', pos: t.pos }
    }
    return this.#simpleValue()
  }

  // ---- components ------------------------------------------------------------------------------

  /** Component ::= "extends" [ ":" WORD ] [ "DATA" | "LAZY" ] BaseComponent */
  #component (): Value {
    const ext = this.next()
    if (this.peek() === ':') {
      this.next()
      // `extends:factory` picks a Java node factory; there is only one here, so it is read and ignored.
      if (this.peek() === 'WORD') this.next()
      else this.unexpected('a factory name after "extends:"')
    }
    let eager = true
    if (this.peek() === 'DATA' || this.peek() === 'LAZY') { this.next(); eager = false }
    const prototypes: Prototype[] = []
    const first = this.#prototype(true)
    if (first) prototypes.push(first)
    for (;;) {
      if (this.peek() === ',') {
        this.next()
        const p = this.#prototype(false)
        if (p) prototypes.push(p)
        else break
      } else if (this.peek() === '{' && prototypes.length > 0) {
        // Legacy `extends A { ... }`: a body after a prototype without a comma ends the list.
        prototypes.push({ kind: 'body', pos: this.tok.pos, attrs: this.#body() })
        break
      } else {
        break
      }
    }
    const node: ComponentNode = { type: 'component', prototypes: exact(prototypes), eager, pos: ext.pos }
    return this.ctx.direct !== undefined ? this.ctx.direct(node) : node
  }

  #prototype (first: boolean): Prototype | null {
    const t = this.tok
    if (t.kind === 'NULL') { this.next(); return { kind: 'null', pos: t.pos } }
    if (t.kind === '{') return { kind: 'body', pos: t.pos, attrs: this.#body() }
    if (REF_START.has(t.kind)) return { kind: 'ref', ref: this.#linkRef(t, false, false) }
    if (first) {
      this.error(SyntaxCode.missingPrototype, `expected a prototype ("{", a reference or NULL) after "extends", found ${describe(t)}`, t.pos)
    } else {
      this.unexpected('a prototype ("{", a reference or NULL) after ","')
    }
    return null
  }

  // ---- references ------------------------------------------------------------------------------

  /**
   * Reference ::= [ "LAZY" ] BaseRef. The lone-reference entry point also takes `[LAZY] DATA BaseRef`, so that
   * the `text` of any parsed reference parses back.
   */
  #reference (lone = false): Value {
    const start = this.tok
    let lazy = false
    let data = false
    if (this.peek() === 'LAZY') { this.next(); lazy = true }
    if (lone && this.peek() === 'DATA') { this.next(); data = true }
    return this.#baseRef(start, lazy, data)
  }

  /** BaseRef ::= [ "OPTIONAL" [ "(" Primitive ")" ] ] LinkRef | "APPLY" "{" AttrList "}" | "ASSERT" "{" AttrList "}" */
  #baseRef (start: Token, lazy: boolean, data: boolean): Value {
    const t = this.tok
    if (t.kind === 'APPLY' || t.kind === 'ASSERT') {
      this.next()
      if (this.peek() !== '{') {
        this.unexpected(`"{" after "${t.image}"`)
        return { type: 'null', pos: t.pos }
      }
      const body = this.#body()
      const apply: Apply = { type: 'apply', assert: t.kind === 'ASSERT', lazy, data, body, pos: start.pos }
      return apply
    }
    let optional: { default: Value } | undefined
    if (t.kind === 'OPTIONAL') {
      this.next()
      let def: Value = { type: 'null', pos: t.pos }
      if (this.peek() === '(') {
        const open = this.next()
        def = this.#primitive() ?? def
        this.close(')', open)
      }
      optional = { default: def }
    }
    if (!REF_START.has(this.peek())) {
      this.unexpected('a reference')
      return { type: 'null', pos: this.tok.pos }
    }
    const ref = this.#linkRef(start, lazy, data)
    if (optional) ref.optional = optional
    return ref
  }

  /** LinkRef ::= RefPart ( ":" RefPart )* ; `start` is where the reference text begins (LAZY, DATA...). */
  #linkRef (start: Token, lazy: boolean, data: boolean): Reference {
    const parts: RefPart[] = []
    let end = this.tok.end
    for (;;) {
      const t = this.tok
      if (t.kind === 'ROOT' || t.kind === 'PARENT' || t.kind === 'THIS' || t.kind === 'PROCESS') {
        this.next(); parts.push({ kind: t.kind }); end = t.end
      } else if (t.kind === 'WORD') {
        this.next(); parts.push({ kind: 'WORD', name: t.value as string }); end = t.end
      } else if (NAMED_PARTS.has(t.kind)) {
        this.next()
        const n = this.tok
        if (n.kind === 'WORD' || n.kind === 'STRING') {
          this.next()
          parts.push({ kind: t.kind as 'ATTRIB', name: n.value as string })
          end = n.end
        } else {
          this.unexpected(`a name after "${t.image}"`)
          break
        }
      } else {
        this.unexpected(parts.length === 0 ? 'a reference' : 'a reference part after ":"')
        break
      }
      if (this.peek() !== ':') break
      this.next()
    }
    let text = this.lx.text.slice(start.start, end)
    // Usually written with single spaces already: replacing them with themselves would make a new string each time.
    if (ODD_SPACE.test(text)) text = text.replace(/\s+/g, ' ')
    const refs = this.#shared().refs
    let shared = refs.get(text)
    if (shared === undefined) {
      shared = { parts: exact(parts), text }
      // Bounded like the lexer's words: references that recur (`LAZY ATTRIB myShell`) are met early.
      if (refs.size < REF_TABLE_LIMIT) refs.set(text, shared)
    }
    return { type: 'ref', parts: shared.parts, lazy, data, text: shared.text, pos: start.pos }
  }

  // ---- simple values ---------------------------------------------------------------------------

  /** SimpleValue ::= Reference | Basic | "(" ( Component | Operator ) ")" | IfThenElse | Switch */
  #simpleValue (): Value {
    const t = this.tok
    switch (t.kind) {
      case 'LAZY': case 'OPTIONAL': case 'APPLY': case 'ASSERT':
        return this.#reference()
      case '(': return this.#nested(() => this.#parenthesised())
      case 'IF': return this.#nested(() => this.#ifThenElse())
      case 'SWITCH': return this.#nested(() => this.#switch())
      case '[': return this.#nested(() => this.#vectorFunction())
    }
    if (REF_START.has(t.kind)) return this.#linkRef(t, false, false)
    const p = this.#primitive()
    return p ?? { type: 'null', pos: t.pos }
  }

  #nested (parse: () => Value): Value {
    const pos = this.tok.pos
    if (!this.enter()) return { type: 'null', pos }
    try { return parse() } finally { this.leave() }
  }

  /** "(" ( Component | "!" SimpleValue | SimpleValue [ (NOP SimpleValue)+ | BOP SimpleValue ] ) ")" */
  #parenthesised (): Value {
    const open = this.next()
    if (this.peek() === 'extends') {
      const c = this.#component()
      this.close(')', open)
      return c
    }
    if (this.peek() === '!') {
      const op = this.next()
      const v = notApply(this.#simpleValue(), op.pos)
      this.close(')', open)
      return v
    }
    const first = this.#simpleValue()
    const op = this.tok
    const nary = NARY_OPS[op.kind]
    const binary = BINARY_OPS[op.kind]
    let result: Value = first
    if (nary !== undefined) {
      const operands = [first]
      while (this.peek() === op.kind) {
        this.next()
        operands.push(this.#simpleValue())
      }
      result = naryApply(nary, operands, op.pos, this.ctx.names)
    } else if (binary !== undefined) {
      this.next()
      result = binaryApply(binary, first, this.#simpleValue(), op.pos)
    }
    const after = this.tok
    if (after.kind !== ')' && (NARY_OPS[after.kind] !== undefined || BINARY_OPS[after.kind] !== undefined)) {
      const msg = binary !== undefined && after.kind === op.kind
        ? `"${op.kind}" is binary: write "((a ${op.kind} b) ${op.kind} c)"`
        : `operators have no precedence: put "${after.kind}" in its own parentheses`
      this.error(SyntaxCode.mixedOperators, msg, after.pos)
    }
    this.close(')', open)
    return result
  }

  /** IfThenElse ::= "IF" SimpleValue "THEN" SimpleValue "ELSE" SimpleValue "FI" */
  #ifThenElse (): Value {
    const open = this.next()
    const cond = this.#simpleValue()
    const then = this.#expectThen('THEN', open) ? this.#simpleValue() : { type: 'null' as const, pos: this.tok.pos }
    const otherwise = this.#expectThen('ELSE', open) ? this.#simpleValue() : { type: 'null' as const, pos: this.tok.pos }
    this.close('FI', open)
    return ifApply(cond, then, otherwise, open.pos)
  }

  #expectThen (kind: TokenKind, open: Token): boolean {
    if (this.peek() === kind) { this.next(); return true }
    this.unexpected(`"${kind}" in the "${open.image}" at ${this.lineCol(open.pos)}`)
    return false
  }

  /** Switch ::= "SWITCH" [ "{" AttrList "}" ] ( "IF" SimpleValue "THEN" SimpleValue )+ "ENDSWITCH" */
  #switch (): Value {
    const open = this.next()
    const bindings = this.peek() === '{' ? this.#body() : []
    const cases: Array<[Value, Value]> = []
    while (this.peek() === 'IF') {
      this.next()
      const cond = this.#simpleValue()
      if (!this.#expectThen('THEN', open)) break
      cases.push([cond, this.#simpleValue()])
    }
    if (cases.length === 0) this.unexpected('"IF" in "SWITCH"')
    this.close('ENDSWITCH', open)
    return switchApply(bindings, cases, open.pos, this.ctx.names)
  }

  /** "[" [ SimpleValue ( "," SimpleValue )* ] "]" — the Vector function. */
  #vectorFunction (): Value {
    const open = this.next()
    const items: Value[] = []
    if (this.peek() !== ']') {
      for (;;) {
        items.push(this.#simpleValue())
        if (this.peek() !== ',') break
        this.next()
      }
    }
    this.close(']', open)
    return naryApply('Vector', items, open.pos, this.ctx.names)
  }

  // ---- primitives ------------------------------------------------------------------------------

  /** Primitive ::= NULL | String | Number | true | false | BYTEARRAY | "[|" ... "|]" | DATA BaseRef | TBD | Var */
  #primitive (): Value | null {
    const t = this.tok
    switch (t.kind) {
      case 'NULL': this.next(); return { type: 'null', pos: t.pos }
      case 'TBD': this.next(); return { type: 'tbd', pos: t.pos }
      case 'true': case 'false': this.next(); return { type: 'bool', value: t.kind === 'true', pos: t.pos }
      case 'STRING': this.next(); return { type: 'string', value: t.value as string, pos: t.pos }
      case 'INT': this.next(); return { type: 'int', value: t.value as number, pos: t.pos }
      case 'FLOAT': this.next(); return { type: 'float', value: t.value as number, pos: t.pos }
      case 'DOUBLE': this.next(); return { type: 'double', value: t.value as number, pos: t.pos }
      case 'LONG': this.next(); return { type: 'long', value: t.value as bigint, pos: t.pos }
      case 'BYTES':
        this.next()
        return { type: 'bytes', radix: t.radix ?? 'HEX', text: t.image, bytes: t.value as Uint8Array, pos: t.pos }
      case '[|': return this.#nested(() => this.#primitiveVector())
      case 'DATA': {
        this.next()
        return this.#baseRef(t, false, true)
      }
      case 'VAR': return this.#var()
    }
    this.unexpected('a value')
    return null
  }

  #primitiveVector (): Primitive {
    const open = this.next()
    const items: Value[] = []
    if (this.peek() !== '|]') {
      for (;;) {
        const p = this.#primitive()
        if (!p) break
        items.push(p)
        if (this.peek() !== ',') break
        this.next()
      }
    }
    this.close('|]', open)
    return { type: 'vector', items: exact(items), pos: open.pos }
  }

  /** Var ::= "VAR" [ Reference | String | "{" (Reference|String) "," (String|Number) "}" ] — parsed, unsupported. */
  #var (): Value {
    const t = this.next()
    const k = this.peek()
    if (k === 'STRING') this.next()
    else if (k === 'LAZY' || REF_START.has(k)) this.#reference()
    else if (k === '{') {
      const open = this.next()
      if (this.peek() === 'STRING') this.next()
      else this.#reference()
      if (this.peek() === ',') {
        this.next()
        if (['STRING', 'INT', 'LONG', 'FLOAT', 'DOUBLE'].includes(this.peek())) this.next()
        else this.unexpected('a string or number in "VAR {...}"')
      }
      this.close('}', open)
    }
    this.error(SyntaxCode.unsupported, 'VAR (constraint variables) needs the constraint solver, which sdpeer does not have', t.pos)
    return { type: 'null', pos: t.pos }
  }
}

const ODD_SPACE = /[^\S ]| {2}/
const REF_TABLE_LIMIT = 4096

interface SharedTables { names: Map<string, string[]>, refs: Map<string, { parts: RefPart[], text: string }> }
const SHARED = new WeakMap<object, SharedTables>()

/**
 * The array at its exact length. V8 gives an array literal grown by push() room for 17 elements at the first push:
 * 152 bytes for a one-part name, which made most of the syntax tree of a big pool (an attribute has a name array,
 * its component a prototype array, a reference a parts array). A copy of a short array costs less than the slack.
 */
function exact<T> (a: T[]): T[] {
  return a.length < 16 ? a.slice() : a
}
