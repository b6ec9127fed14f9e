// The syntax tree of a `.sf` file after parsing and include splicing, before any resolution.
// Contract between the parser (lexer.ts, parser.ts, includes.ts) and the resolver (resolve/*.ts):
// - includes are already spliced in place, so the resolver never sees an `#include`;
// - operators, IF/SWITCH and `[ ... ]` vectors are already desugared into APPLY nodes as SmartFrog does
//   (sf-language.md §10), so the resolver only knows references, APPLY/ASSERT and component descriptions;
// - every node carries the position of its first character (a number, see `Pos`), for diagnostics `FILE:LINE:COL`;
// - the tree is read-only for its consumers: nodes may share objects (the empty `tags` array of
//   untagged attributes, which is frozen; the `name` array of every attribute with the same one-word name, and the
//   `parts` array and `text` of every reference with the same text), so copy before changing anything.

/**
 * A source position: one number, decoded into FILE:LINE:COL by the parse session's table (syntax/positions.ts,
 * `DiagnosticBag.positions`) when a diagnostic is made. Negative numbers are lone parses' positions.
 */
export type Pos = number

/** A decoded position, as diagnostics carry it. */
export interface SourcePos {
  /** Path as given on the command line or as found on the include path. */
  file: string
  /** 1-based. */
  line: number
  /** 1-based, in UTF-16 code units. */
  col: number
}

/** One part of a reference `a:b:c` (sf-language.md §9). */
export type RefPart =
  | { kind: 'ROOT' | 'PARENT' | 'THIS' | 'PROCESS' }
  /** A bare word: ATTRIB semantics as first part, HERE semantics afterwards. */
  | { kind: 'WORD', name: string }
  | { kind: 'ATTRIB' | 'HERE' | 'PROPERTY' | 'IPROPERTY' | 'ENVPROPERTY' | 'IENVPROPERTY' | 'CONSTANT' | 'HOST', name: string }

export interface Reference {
  type: 'ref'
  parts: RefPart[]
  /** `LAZY ref`: kept for run time. */
  lazy: boolean
  /** `DATA ref`: the reference itself is the value. */
  data: boolean
  /** `OPTIONAL ref` / `OPTIONAL(default) ref`; `default` is a `null` value node when omitted. */
  optional?: { default: Value }
  /** The reference as written, e.g. `LAZY ATTRIB myShell`, for messages and `{"$ref": ...}` output. */
  text: string
  pos: Pos
}

/** `APPLY {...}` (a function) or `ASSERT {...}` (a predicate), written directly or desugared from an operator. */
export interface Apply {
  type: 'apply'
  assert: boolean
  lazy: boolean
  data: boolean
  /** Body attributes, `sfFunctionClass` among them. */
  body: Attribute[]
  pos: Pos
}

/** One prototype of `extends P1, P2, {...}`: a reference to a CD, an explicit body, or NULL. */
export type Prototype =
  | { kind: 'ref', ref: Reference }
  | { kind: 'body', attrs: Attribute[], pos: Pos }
  | { kind: 'null', pos: Pos }

/** A component description `extends [DATA|LAZY] P1, ..., { ... }`. */
export interface ComponentNode {
  type: 'component'
  /** Left to right, as written; the merge rule is in the resolver. */
  prototypes: Prototype[]
  /** false for `extends DATA` / `extends LAZY`: a Compound does not deploy it. */
  eager: boolean
  pos: Pos
}

export type Primitive =
  | { type: 'int', value: number, pos: Pos }
  | { type: 'long', value: bigint, pos: Pos }
  | { type: 'float', value: number, pos: Pos }
  | { type: 'double', value: number, pos: Pos }
  | { type: 'string', value: string, pos: Pos }
  | { type: 'bool', value: boolean, pos: Pos }
  | { type: 'null', pos: Pos }
  | { type: 'tbd', pos: Pos }
  /** `#HEX#...#` and friends; `text` is the canonical unparse form, `bytes` the decoded value. */
  | { type: 'bytes', radix: 'HEX' | 'DEC' | 'OCT' | 'BIN' | 'B64', text: string, bytes: Uint8Array, pos: Pos }
  /** `[| ... |]`: primitives only. */
  | { type: 'vector', items: Value[], pos: Pos }

export type Value = Primitive | Reference | Apply | ComponentNode

export interface Attribute {
  /**
   * The attribute name; more than one element is a placement `a:b:c value` (sf-language.md §8).
   * `--` is given a fresh name `unique<N>` by the parser.
   */
  name: string[]
  /** `[sfFinal, sfLocal] name value`. */
  tags: string[]
  value: Value
  pos: Pos
}

/** A parsed file: its top-level attribute list (the implicit ROOT component's body). */
export interface SfFile {
  attrs: Attribute[]
  /** Every file read, the root first, in the order read (for `--deps` style tooling and cycle messages). */
  files: string[]
}
