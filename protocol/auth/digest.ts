import { createHash } from 'node:crypto'
import { canonicalJson, CanonicalJsonError, MAX_CANONICAL_DEPTH } from './canonical.ts'

// The digest an operator signs over a request body, built as a Merkle tree over nested objects, so that a peer that
// receives only one subtree of a pool (the part its host owns) can still check that subtree against the operator's
// signature, and a forwarding peer cannot alter it:
//
//   digest(object) = sha256("sdpeer-node-v1\0" + canonical(skeleton(object)))
//   digest(other)  = sha256("sdpeer-value-v1\0" + canonical(other))
//   skeleton(object) = the object with every object-valued attribute replaced by { "$digest": digest(attribute) }
//
// Every object-valued attribute is replaced, always, so a skeleton never holds a real object and a forger cannot pass
// a made-up `{ "$digest": ... }` value off as a child. Arrays are hashed whole (components are never inside arrays).
// A proof for the subtree at path [a, b] is the skeletons of the root and of `a`: the owner hashes the subtree it got,
// checks it is `b` in a's skeleton, hashes that, checks it is `a` in the root's, and ends with the signed digest.

export const DIGEST_KEY = '$digest'
const HEX64 = /^[0-9a-f]{64}$/
/** A proof descends at most this deep (component paths are bounded by the API's depth bound of 64). */
export const MAX_PROOF_DEPTH = 64

type Obj = Record<string, unknown>

export class DigestProofError extends Error {
  override readonly name = 'DigestProofError'
  /** The path of the subtree whose proof failed, joined with ":". */
  readonly path: string
  constructor (path: string[], message: string) {
    super(`subtree ${JSON.stringify(path.join(':'))}: ${message}`)
    this.path = path.join(':')
  }
}

function isPlainObject (v: unknown): v is Obj {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) return false
  const proto = Object.getPrototypeOf(v)
  return proto === Object.prototype || proto === null
}

function sha256Hex (prefix: string, text: string): string {
  return createHash('sha256').update(prefix).update(text).digest('hex')
}

function hashSkeleton (sk: Obj): string {
  return sha256Hex('sdpeer-node-v1\0', canonicalJson(sk))
}

/**
 * Optional hooks of the digest walk. `memo` caches digests by object identity (a coordinator proving every part of
 * one body hashes each node once, not once per part). `substitute` lets an owner digest the part it received as the
 * operator signed it: for the object at `path` (relative to the value digested) it returns the digest the signed
 * body had there (a subtree cut out and sent to another peer), another object to digest in its place, or undefined.
 * Whatever it returns, the result must still match the signed digest, so a lying hook only makes verification fail.
 */
export interface DigestHooks {
  memo?: WeakMap<object, string>
  substitute?: (node: Obj, path: readonly string[]) => string | Obj | undefined
}

/** The digest of any JSON body (hex sha256). Throws CanonicalJsonError for non-JSON values or nesting too deep. */
export function bodyDigest (body: unknown, hooks?: DigestHooks): string {
  return digestAt(body, 0, [], hooks)
}

function digestAt (v: unknown, depth: number, path: string[], hooks: DigestHooks | undefined): string {
  if (!isPlainObject(v)) return sha256Hex('sdpeer-value-v1\0', canonicalJson(v))
  let node: Obj = v
  if (hooks?.substitute !== undefined) {
    const s = hooks.substitute(v, path)
    if (typeof s === 'string') return s
    if (s !== undefined) node = s
  }
  const memo = hooks?.substitute === undefined ? hooks?.memo : undefined
  const known = memo?.get(node)
  if (known !== undefined) return known
  const d = hashSkeleton(skeletonAt(node, depth, path, hooks))
  memo?.set(node, d)
  return d
}

function skeletonAt (node: Obj, depth: number, path: string[], hooks: DigestHooks | undefined): Obj {
  if (depth >= MAX_CANONICAL_DEPTH) throw new CanonicalJsonError(path.join('.'), `nests deeper than ${MAX_CANONICAL_DEPTH}`)
  const out: Obj = {}
  for (const k of Object.keys(node)) {
    const x = node[k]
    // defineProperty: a "__proto__" attribute must stay an own attribute, not become the prototype.
    const value = isPlainObject(x) ? { [DIGEST_KEY]: digestAt(x, depth + 1, [...path, k], hooks) } : x
    Object.defineProperty(out, k, { value, enumerable: true, writable: true, configurable: true })
  }
  return out
}

/** The skeleton of one object: what a proof carries for each ancestor of a forwarded subtree. */
export function skeleton (node: Obj, hooks?: Pick<DigestHooks, 'memo'>): Obj {
  return skeletonAt(node, 0, [], hooks)
}

export interface SubtreeProof {
  /** Attribute names from the body's root down to the subtree. */
  path: string[]
  /** skeletons[i] is the skeleton of the object reached by path[0..i); its attribute path[i] is the next digest. */
  skeletons: Obj[]
}

/** The subtree of `body` at `path` and the proof that ties it to bodyDigest(body). Throws DigestProofError. */
export function proveSubtree (body: unknown, path: string[], hooks?: Pick<DigestHooks, 'memo'>): { subtree: unknown, proof: SubtreeProof } {
  const skeletons: Obj[] = []
  let node = body
  for (let i = 0; i < path.length; i++) {
    if (!isPlainObject(node) || !Object.hasOwn(node, path[i])) throw new DigestProofError(path, `no attribute ${JSON.stringify(path[i])} at depth ${i}`)
    const next = node[path[i]]
    if (!isPlainObject(next)) throw new DigestProofError(path, `${JSON.stringify(path[i])} is not an object`)
    skeletons.push(skeleton(node, hooks))
    node = next
  }
  return { subtree: node, proof: { path: [...path], skeletons } }
}

/**
 * Recomputes the root digest from a subtree and its proof; the caller compares it with the signed digest. Throws
 * DigestProofError when the proof is malformed or a link does not match (the subtree or a skeleton was altered).
 * Accepts untrusted input: shape is checked here.
 */
export function rootDigestOf (subtree: unknown, proof: unknown, hooks?: DigestHooks): string {
  if (!isPlainObject(proof)) throw new DigestProofError([], 'proof must be an object')
  for (const k of Object.keys(proof)) if (k !== 'path' && k !== 'skeletons') throw new DigestProofError([], `proof has an unknown field ${JSON.stringify(k.slice(0, 40))}`)
  const { path, skeletons } = proof
  if (!Array.isArray(path) || !Array.isArray(skeletons)) throw new DigestProofError([], 'proof needs path and skeletons arrays')
  if (path.length > MAX_PROOF_DEPTH) throw new DigestProofError([], `path deeper than ${MAX_PROOF_DEPTH}`)
  if (path.some(p => typeof p !== 'string')) throw new DigestProofError([], 'path must hold strings')
  const names = path as string[]
  if (skeletons.length !== names.length) throw new DigestProofError(names, 'one skeleton per path step is needed')
  if (names.length > 0 && !isPlainObject(subtree)) throw new DigestProofError(names, 'a subtree is an object')
  let h = bodyDigest(subtree, hooks)
  for (let i = names.length - 1; i >= 0; i--) {
    const sk = skeletons[i]
    if (!isPlainObject(sk)) throw new DigestProofError(names, `skeleton ${i} is not an object`)
    for (const k of Object.keys(sk)) {
      const x = sk[k]
      if (isPlainObject(x) && !(Object.keys(x).length === 1 && typeof x[DIGEST_KEY] === 'string' && HEX64.test(x[DIGEST_KEY]))) {
        throw new DigestProofError(names, `skeleton ${i} attribute ${JSON.stringify(k)} is not a digest`)
      }
    }
    const link = Object.hasOwn(sk, names[i]) ? sk[names[i]] : undefined
    if (!isPlainObject(link) || link[DIGEST_KEY] !== h) {
      throw new DigestProofError(names, `${JSON.stringify(names.slice(0, i + 1).join(':'))} does not match the signed pool`)
    }
    h = hashSkeleton(sk)
  }
  return h
}

/**
 * The value of attribute `name` as the subtree sees it: its own, else the nearest ancestor's from the proof's
 * skeletons (which carry every non-object attribute of each ancestor). An owner peer uses it on `sfProcessHost` to
 * check that a validly signed subtree is really meant for it, not one a forwarding peer sent to the wrong host.
 * Call after verifySubtreeRequest accepted the proof.
 */
export function inheritedAttr (subtree: unknown, proof: SubtreeProof, name: string): unknown {
  if (isPlainObject(subtree) && Object.hasOwn(subtree, name)) return subtree[name]
  for (let i = proof.skeletons.length - 1; i >= 0; i--) {
    const sk = proof.skeletons[i]
    if (Object.hasOwn(sk, name) && !isPlainObject(sk[name])) return sk[name]
  }
  return undefined
}
