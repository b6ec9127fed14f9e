import type { Pos, Primitive, Reference } from '../ast.ts'

// The mutable tree the resolver works on: SmartFrog's SFComponentDescription, reduced to what the phases need.
// Attributes are kept in parallel arrays rather than a Map per component: a pool of 10,000 VMs copies hundreds of
// thousands of small components during type resolution, and slices of small arrays are both cheaper to copy and
// smaller than Maps. An index Map is built only for large components (a Compound with many children).

/** A scalar value: the parser's primitives (vectors excepted, see RVector). */
export type Scalar = Exclude<Primitive, { type: 'vector' }>

export interface RVector { type: 'vector', items: RValue[], pos: Pos }

/** An APPLY or ASSERT node: `body` is a component whose parent is the container of the attribute. */
export interface RApply {
  type: 'apply'
  assert: boolean
  lazy: boolean
  data: boolean
  body: CD
  /** For assertions built from Assertions/Schema templates: SmartFrog's sfAssertionPhase. */
  phase?: 'static' | 'staticLazy' | 'dynamic'
  /** A checked static assertion: SmartFrog's SFTempValue, dropped from the output. */
  temp?: boolean
  pos: Pos
}

export type RValue = Scalar | RVector | Reference | RApply | CD

/** Placement attribute keys start with this character, followed by the path joined with it. */
export const PLACE = '\u0001'

const INDEX_FROM = 24

export class CD {
  readonly type = 'cd'
  names: string[] = []
  vals: RValue[] = []
  /** Tags per attribute; undefined while no attribute of this component has any (nearly always). */
  tags?: (string[] | undefined)[]
  poss: Pos[] = []
  parent: CD | null
  eager: boolean
  pos: Pos
  /** 0 untouched, 1 in progress, 2 done: one byte per phase that walks components. */
  typeState = 0
  linkState = 0
  /** Prototypes still to merge (type resolution), as built from the AST. */
  protos?: Proto[]
  #index?: Map<string, number>
  /**
   * `names` is shared with other components (copies, and every component with the same attribute names: a pool's
   * 10,000 VMs have one array between them) and is copied before any change to it.
   */
  #sharedNames = false
  /** Attribute indexes whose link resolution is under way, to report cycles instead of overflowing the stack. */
  busy?: Set<number>

  constructor (parent: CD | null, pos: Pos, eager = true) {
    this.parent = parent
    this.pos = pos
    this.eager = eager
  }

  get size (): number { return this.names.length }

  indexOf (name: string): number {
    const n = this.names.length
    if (n < INDEX_FROM) return this.names.indexOf(name)
    if (this.#index === undefined || this.#index.size !== n) {
      this.#index = new Map()
      for (let i = 0; i < n; i++) this.#index.set(this.names[i]!, i)
    }
    return this.#index.get(name) ?? -1
  }

  get (name: string): RValue | undefined {
    const i = this.indexOf(name)
    return i < 0 ? undefined : this.vals[i]
  }

  /** Defines or overrides in place (first position kept), merging tags as SmartFrog does. */
  set (name: string, value: RValue, pos: Pos, tags?: string[]): number {
    const i = this.indexOf(name)
    const tagged = tags !== undefined && tags.length > 0
    if (i >= 0) {
      this.vals[i] = value
      this.poss[i] = pos
      if (tagged) this.#tagArray()[i] = unionTags(this.tags![i], tags)
      return i
    }
    this.#ownNames().push(name)
    this.vals.push(value)
    this.poss.push(pos)
    if (tagged) this.#tagArray()[this.names.length - 1] = tags
    else if (this.tags !== undefined) this.tags.push(undefined)
    this.#index?.set(name, this.names.length - 1)
    return this.names.length - 1
  }

  #ownNames (): string[] {
    if (this.#sharedNames) { this.names = this.names.slice(); this.#sharedNames = false }
    return this.names
  }

  /** Takes `src`'s names array as its own, shared from now on by both. */
  shareNamesOf (src: CD): void {
    src.#sharedNames = true
    this.names = src.names
    this.#sharedNames = true
    this.#index = undefined
  }

  /** Replaces `names` by the one array for this sequence of names (interned), when there is one. */
  #internNames (): void {
    if (this.#sharedNames) return
    const shared = internNames(this.names)
    if (shared === undefined) return
    // Even when this array is the one kept (the first of its kind), it is shared from now on.
    this.names = shared
    this.#sharedNames = true
  }

  #tagArray (): (string[] | undefined)[] {
    if (this.tags === undefined) this.tags = new Array<string[] | undefined>(this.names.length).fill(undefined)
    else while (this.tags.length < this.names.length) this.tags.push(undefined)
    return this.tags
  }

  tagsAt (i: number): string[] | undefined { return this.tags?.[i] }

  /**
   * Fills this empty component with copies of `src`'s attributes, then `body`'s (an explicit `{...}` prototype
   * whose values are moved here), exactly as set() one attribute at a time would (same order: src's, overridden
   * in place, then body's new ones; values copied with copyValue), but with each array made once at its final
   * length: the usual `x extends Proto {...}` otherwise grows three arrays push by push and trims them again.
   * Not for tagged attributes (sfFinal/sfOverride need the one-by-one merge).
   */
  takeCopyOf (src: CD, body?: CD): void {
    if (this.names.length !== 0) throw new Error('takeCopyOf needs an empty component')
    const n = src.names.length
    // Where each body attribute lands: its index in src, or after src's for a new name.
    let extra = 0
    const at: number[] = []
    if (body !== undefined) {
      for (let j = 0; j < body.names.length; j++) {
        const i = src.indexOf(body.names[j]!)
        at.push(i >= 0 ? i : n + extra++)
      }
    }
    const total = n + extra
    // The names are src's followed by the body's new ones: the same array for every component made from the
    // same prototype with the same body names, when both arrays are shared (hence never changed).
    let names: string[] | undefined
    if (extra === 0) {
      src.#sharedNames = true
      names = src.names
    } else if (body !== undefined && src.#sharedNames && body.#sharedNames) {
      names = mergedNames(src.names, body.names)
    }
    const own = names === undefined
    if (own) names = new Array<string>(total)
    const vals = new Array<RValue>(total)
    const poss = new Array<Pos>(total)
    for (let i = 0; i < n; i++) {
      if (own) names![i] = src.names[i]!
      poss[i] = src.poss[i]!
      const v = src.vals[i]!
      vals[i] = (v instanceof CD || v.type === 'vector' || v.type === 'apply') ? copyValue(v, this) : v
    }
    if (body !== undefined) {
      for (let j = 0; j < at.length; j++) {
        const i = at[j]!
        if (own) names![i] = body.names[j]!
        vals[i] = body.vals[j]!
        poss[i] = body.poss[j]!
      }
    }
    this.names = names!
    this.#sharedNames = !own
    if (own) {
      this.#internNames()
      if (body !== undefined && this.#sharedNames && src.#sharedNames && body.#sharedNames) rememberMerged(src.names, body.names, this.names)
    }
    this.vals = vals
    this.poss = poss
    this.tags = undefined
    this.#index = undefined
  }

  /** Takes these arrays (all of one length, names distinct, untagged) as the attributes of this empty component. */
  adopt (names: string[], vals: RValue[], poss: Pos[]): void {
    if (this.names.length !== 0) throw new Error('adopt needs an empty component')
    this.names = names
    this.#sharedNames = false
    this.vals = vals
    this.poss = poss
    this.tags = undefined
    this.#index = undefined
    this.#internNames()
  }

  /** Moves this component's attributes (an inline body, see Proto) into a new component, leaving this one empty. */
  detachBody (pos: Pos): CD {
    const body = new CD(this, pos)
    body.names = this.names
    body.#sharedNames = this.#sharedNames
    this.#sharedNames = false
    body.vals = this.vals
    body.poss = this.poss
    body.tags = this.tags
    this.names = []
    this.vals = []
    this.poss = []
    this.tags = undefined
    this.#index = undefined
    return body
  }

  /** Drops spare array capacity once a component is complete (type resolution grows its arrays by pushes). */
  trim (): void {
    if (!this.#sharedNames) this.names = this.names.slice()
    this.#internNames()
    this.vals = this.vals.slice()
    this.poss = this.poss.slice()
    if (this.tags !== undefined) this.tags = this.tags.slice()
  }

  removeAt (i: number): void {
    this.#ownNames().splice(i, 1)
    this.vals.splice(i, 1)
    this.tags?.splice(i, 1)
    this.poss.splice(i, 1)
    this.#index = undefined
  }

  /** Keeps only attributes for which `keep` is true (one pass, order kept). */
  filter (keep: (i: number) => boolean): void {
    let w = 0
    const n = this.names.length
    for (let r = 0; r < n; r++) {
      if (!keep(r)) { this.#ownNames(); continue }
      if (w !== r) {
        this.names[w] = this.names[r]!
        this.vals[w] = this.vals[r]!
        if (this.tags !== undefined) this.tags[w] = this.tags[r]
        this.poss[w] = this.poss[r]!
      }
      w++
    }
    if (w === n) return
    this.names.length = w
    this.vals.length = w
    if (this.tags !== undefined) this.tags.length = w
    this.poss.length = w
    this.#index = undefined
  }

  hasTag (i: number, tag: string): boolean {
    const t = this.tags?.[i]
    return t !== undefined && t.includes(tag)
  }

  /** The component path from the file root, `sfConfig:a:b`, for messages. */
  path (): string {
    const parts: string[] = []
    let c: CD = this
    while (c.parent !== null) {
      const p: CD = c.parent
      let i = p.vals.indexOf(c)
      if (i < 0) i = p.vals.findIndex(v => !(v instanceof CD) && v.type === 'apply' && v.body === c)
      parts.push(i >= 0 ? displayName(p.names[i]!) : '?')
      c = p
    }
    return parts.reverse().join(':')
  }

  root (): CD {
    let c: CD = this
    while (c.parent !== null) c = c.parent
    return c
  }
}

export type Proto =
  | Reference
  /** An explicit body `{...}`. */
  | CD
  /** The last prototype: an explicit body (at this position) whose attributes the component holds until type resolution. */
  | Pos

export function unionTags (a: string[] | undefined, b: string[] | undefined): string[] | undefined {
  if (a === undefined || a.length === 0) return b
  if (b === undefined || b.length === 0) return a
  const out = a.slice()
  for (const t of b) if (!out.includes(t)) out.push(t)
  return out
}

export function isPlacement (name: string): boolean { return name.charCodeAt(0) === 1 }
export function placementPath (name: string): string[] { return name.slice(1).split(PLACE) }
export function displayName (name: string): string {
  return isPlacement(name) ? placementPath(name).join(':') : name
}

export function isCD (v: RValue | undefined): v is CD { return v instanceof CD }

/**
 * Deep copy of a type-resolved value for `extends`: components are copied and re-parented, references and scalars
 * are immutable and shared.
 */
export function copyValue (v: RValue, parent: CD): RValue {
  if (v instanceof CD) return copyCD(v, parent)
  switch (v.type) {
    case 'vector': return { type: 'vector', items: v.items.map(x => copyValue(x, parent)), pos: v.pos }
    case 'apply': return { ...v, body: copyCD(v.body, parent) }
    default: return v
  }
}

export function copyCD (src: CD, parent: CD | null): CD {
  const cd = new CD(parent, src.pos, src.eager)
  cd.typeState = src.typeState
  cd.shareNamesOf(src)
  if (src.tags !== undefined) cd.tags = src.tags.slice()
  cd.poss = src.poss.slice()
  const n = src.vals.length
  const vals = new Array<RValue>(n)
  for (let i = 0; i < n; i++) {
    const v = src.vals[i]!
    vals[i] = (v instanceof CD || v.type === 'vector' || v.type === 'apply') ? copyValue(v, cd) : v
  }
  cd.vals = vals
  if (src.protos !== undefined) cd.protos = src.protos
  return cd
}

// Interning of attribute-name arrays (CD.#sharedNames). A trie over the names, so that finding the array of a
// sequence costs one lookup per name and no key string; dropped when it grows large (a long-lived daemon parses
// many descriptions), which only costs sharing, never correctness: interned arrays are never changed.
interface NameNode { next: Map<string, NameNode>, arr?: string[] }
let trie: NameNode = { next: new Map() }
let trieNodes = 0
const TRIE_LIMIT = 100_000
/** (prototype names, body names) -> the merged array, for takeCopyOf. */
let merged = new WeakMap<string[], WeakMap<string[], string[]>>()

/** The one array for this sequence of names (possibly `names` itself, kept); undefined when not interned. */
function internNames (names: string[]): string[] | undefined {
  // Long lists (a Compound of hosts or VMs) are nearly always one of a kind: not worth a trie path.
  if (names.length === 0 || names.length > 32) return undefined
  let node = trie
  for (let i = 0; i < names.length; i++) {
    const name = names[i]!
    let next = node.next.get(name)
    if (next === undefined) {
      if (trieNodes >= TRIE_LIMIT) { trie = { next: new Map() }; trieNodes = 0; merged = new WeakMap(); return undefined }
      next = { next: new Map() }
      node.next.set(name, next)
      trieNodes++
    }
    node = next
  }
  node.arr ??= names
  return node.arr
}

function mergedNames (protoNames: string[], bodyNames: string[]): string[] | undefined {
  return merged.get(protoNames)?.get(bodyNames)
}

/** Records the names made by takeCopyOf from these two shared arrays. */
export function rememberMerged (protoNames: string[], bodyNames: string[], result: string[]): void {
  let m = merged.get(protoNames)
  if (m === undefined) { m = new WeakMap(); merged.set(protoNames, m) }
  m.set(bodyNames, result)
}
