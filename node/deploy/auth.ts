import { AuthError, bodyDigest, canonicalJson, DEFAULT_WINDOW_MS, DigestProofError, parseEnvelope, proveSubtree, ReplayCache, verifyRequest, verifySubtreeRequest } from '../../protocol/auth/index.ts'
import type { TrustLookup, VerifiedRequest } from '../../protocol/auth/index.ts'
import type { SfJson, SfJsonObject } from '../sf/sfjson.ts'
import { isEagerComponent } from '../sf/sfjson.ts'
import { isRemotePlaceholder, pathSegments as segments, REMOTE_KEY } from './split.ts'
import type { PartPlan } from './types.ts'

// Operator signatures across the two-phase deploy. The entry peer verified the whole request (node/api/auth-gate.ts);
// each owner checks the parts it is asked to deploy against the ORIGINAL operator's signature, never trusting the
// forwarding peer: the prepare carries the operator's envelope and, per part, a Merkle proof (protocol/auth/digest.ts)
// tying the part to the digest the operator signed.
//
// A part is not literally the signed subtree: the split cut its remote children out (placeholders), and the entry
// peer's scheduler may have written `sfProcessHost` on components the operator left unplaced. So the owner digests
// its part as the operator signed it: each placeholder stands for the digest of the subtree it replaced (`cuts`),
// and each `placed` component is digested without the sfProcessHost the scheduler added. Both are claims of the
// forwarding peer that the signature checks: a wrong cut digest, or a `placed` sfProcessHost that the operator did
// write, gives another digest and the part is refused.

/** What the entry peer received from the operator: the envelope and the body it signs (apiRequestBody of the API
 * request: `{ op: "deploy", pool, config, wait, at? }`). `body.config` is the pool as signed, before scheduling. */
export interface SignedRequest {
  envelope: unknown
  body: Record<string, unknown>
}
export type DeployAuth = SignedRequest

export interface PartAuth {
  /** The part's pool path ("" = root). */
  path: string
  /** Each remote child cut out of this part, with the digest of the signed subtree it replaced. */
  cuts: Array<{ path: string, digest: string }>
  /** Pool paths of this part's components whose sfProcessHost was chosen by the scheduler, not signed. */
  placed: string[]
}

/** Travels with a prepare: what the owner needs to check its parts against the operator's signature. */
export interface PrepareAuth {
  envelope: unknown
  /** Skeletons of the parts' ancestors in the signed body, by proof-path prefix joined with ":" ("" = body root). */
  skeletons: Array<{ at: string, skeleton: Record<string, unknown> }>
  parts: PartAuth[]
}

/**
 * The owner's check. `verify` runs at prepare, before anything is recorded or reserved: signature, proofs, role,
 * pool, time, and that no deploy of the same signed request committed here already. `admit` runs at commit and
 * burns the request's id on this peer. Burning at commit, not at prepare, lets the entry peer try the same signed
 * request again after a refused prepare (the scheduler's retry with a new placement), while a request that once
 * deployed here can never deploy here again. Both throw AuthError.
 */
export interface PartVerifier {
  verify (req: { pool: string, parts: readonly PartPlan[], auth?: PrepareAuth }, from: string): VerifiedRequest | undefined
  /**
   * A scheduled part re-placed by the pool's coordinator after its host died: the part must be exactly what the
   * operator signed (signature, proofs, role, pool), checked as of the time it was signed — a re-placement comes
   * any time after the deploy, so neither the time window nor the replay cache applies. Its freshness is the
   * epoch, which the participant checks against the pool record (replacement-check.ts). Throws AuthError.
   */
  replacement? (req: { pool: string, parts: readonly PartPlan[], auth?: PrepareAuth }, from: string): VerifiedRequest | undefined
  /** At commit: burns the id, and remembers when the operator signed the deploy of these parts (for terminate). */
  admit (verified: VerifiedRequest, paths?: readonly string[]): void
  /**
   * A forwarded terminate of one part, signed (`sdpeer terminate` through any entry peer): the operator's request
   * for this pool and kind, signed after the deploy of the part it ends, so a terminate replayed against a pool
   * deployed again under the same name is refused. Not burnt: terminating a part is idempotent and every part of a
   * pool hears the same request. Throws AuthError.
   */
  terminate (req: { pool: string, path: string, kind: string, auth?: SignedRequest, component?: string }): VerifiedRequest
  /** A forwarded `sdpeer set`: the operator's request for exactly this change, once. Throws AuthError. */
  set (req: { pool: string, path: string, attr: string, value: unknown, auth?: SignedRequest }): VerifiedRequest
  /** Re-reads the trust store if its file changed (`sdpeer trust add` on this host takes effect at once). */
  refresh? (): Promise<void>
}

/** A deploy whose signed body does not hold the pool it is asked to deploy (a caller bug, caught before any peer). */
export class DeployAuthError extends Error {
  override readonly name = 'DeployAuthError'
  readonly pool: string
  readonly path: string
  constructor (pool: string, path: string, message: string, options?: { cause?: unknown }) {
    super(`${pool}: ${path === '' ? '(root)' : path}: ${message}`, options)
    this.pool = pool
    this.path = path
  }
}

const join = (parent: string, name: string): string => parent === '' ? name : `${parent}:${name}`
/** The proof path of the part at `path`: the signed body's `config`, then the component names. */
export const proofPath = (path: string): string[] => ['config', ...segments(path)]

function at (config: SfJsonObject, path: string): SfJsonObject | undefined {
  let node: SfJson | undefined = config
  for (const s of segments(path)) {
    if (typeof node !== 'object' || node === null || Array.isArray(node) || !Object.hasOwn(node, s)) return undefined
    node = node[s]
  }
  return typeof node === 'object' && node !== null && !Array.isArray(node) ? node : undefined
}

/**
 * Coordinator side: the PrepareAuth of one owner's parts. One `memo` per deploy: every node of the signed body is
 * hashed once however many parts are proved. Throws DeployAuthError when the signed body lacks a part.
 */
export function proveParts (pool: string, auth: DeployAuth, parts: readonly PartPlan[], memo: WeakMap<object, string>): PrepareAuth {
  const signed = auth.body.config
  if (typeof signed !== 'object' || signed === null || Array.isArray(signed)) throw new DeployAuthError(pool, '', 'the signed request has no config object')
  const skeletons = new Map<string, Record<string, unknown>>()
  const out: PartAuth[] = []
  for (const part of parts) {
    let proof
    try {
      proof = proveSubtree(auth.body, proofPath(part.path), { memo }).proof
    } catch (err) {
      if (err instanceof DigestProofError) throw new DeployAuthError(pool, part.path, `not in the signed pool: ${err.message}`, { cause: err })
      throw err
    }
    proof.skeletons.forEach((sk, i) => { skeletons.set(proof.path.slice(0, i).join(':'), sk) })
    const cuts = part.remoteChildren.map(c => {
      const node = at(signed as SfJsonObject, c.path)
      if (node === undefined) throw new DeployAuthError(pool, c.path, 'remote child not in the signed pool')
      return { path: c.path, digest: bodyDigest(node, { memo }) }
    })
    out.push({ path: part.path, cuts, placed: placedIn(part, signed as SfJsonObject) })
  }
  return { envelope: auth.envelope, skeletons: [...skeletons].map(([k, skeleton]) => ({ at: k, skeleton })), parts: out }
}

/** Components of the part carrying an sfProcessHost that the signed pool does not have there. */
function placedIn (part: PartPlan, signed: SfJsonObject): string[] {
  const out: string[] = []
  const stack: Array<{ path: string, cd: SfJsonObject }> = [{ path: part.path, cd: part.config }]
  while (stack.length > 0) {
    const { path, cd } = stack.pop()!
    if (cd.sfProcessHost !== undefined && at(signed, path)?.sfProcessHost === undefined) out.push(path)
    for (const [k, v] of Object.entries(cd)) if (isEagerComponent(v)) stack.push({ path: join(path, k), cd: v })
  }
  return out.sort()
}

export interface PartVerifierOptions {
  /** The peer's trust store; its `reloadIfChanged` (TrustStore has one) runs before each check. */
  trust: TrustLookup & { reloadIfChanged?: () => Promise<boolean> }
  /** The peer's replay cache (the one its API gate uses: keys differ, so the entry's and the parts' checks stay apart). */
  replay: ReplayCache
  /** Wall clock, ms. */
  now: () => number
  windowMs?: number
  /**
   * Whether a host name or address names this peer (the mesh's resolveHost(h) === self). When given, a validly
   * signed part is also refused unless the operator placed it here: its signed sfProcessHost (or the root's signed
   * `--at`) must name this peer, so a forwarding peer cannot send one host's part to another. A part the operator
   * left unplaced (the entry peer's choice, or the scheduler's `placed`) may go anywhere.
   */
  isSelf?: (host: string) => boolean
}

/**
 * Participant side: the PartVerifier for DeployPeerComponents.verifyPart. Every part of the prepare must be proved,
 * so a prepare sent directly to an owner with a forged, missing or borrowed proof is refused; one request deploys
 * a pool on a peer at most once, so a captured prepare replayed later is refused too.
 */
export function createPartVerifier (o: PartVerifierOptions): PartVerifier {
  const windowMs = o.windowMs ?? DEFAULT_WINDOW_MS
  const key = (v: VerifiedRequest): string => `${v.id}\0deploy:${v.pool ?? ''}`
  const burnt = (v: VerifiedRequest): boolean => v.time < o.replay.notBefore || o.replay.has(key(v))
  const deployedAt = new Map<string, number>()
  /** Each part proved against the operator's signature as of `now`; the id is checked against no cache here. */
  const checkParts = (req: { pool: string, parts: readonly PartPlan[], auth?: PrepareAuth }, now: number, placement = true): VerifiedRequest | undefined => {
    const auth = req.auth
    if (auth === undefined) throw new AuthError('unsigned', `pool ${req.pool}: a prepare carries no operator signature`)
    const skeletons = new Map(auth.skeletons.map(s => [s.at, s.skeleton]))
    const byPath = new Map(auth.parts.map(p => [p.path, p]))
    if (byPath.size !== auth.parts.length || byPath.size !== req.parts.length) throw new AuthError('body-mismatch', `pool ${req.pool}: the proofs do not match the parts one to one`)
    // Each part is checked alone (its own proof); the id is checked against this peer's cache once, below.
    const scratch = new ReplayCache()
    let verified: VerifiedRequest | undefined
    for (const part of req.parts) {
      const pa = byPath.get(part.path)
      if (pa === undefined) throw new AuthError('body-mismatch', `pool ${req.pool}: part ${part.path || '(root)'} has no proof`)
      const path = proofPath(part.path)
      const sks = path.map((_, i) => skeletons.get(path.slice(0, i).join(':')))
      if (sks.some(s => s === undefined)) throw new AuthError('body-mismatch', `pool ${req.pool}: part ${part.path || '(root)'}: the proof lacks an ancestor`)
      checkCuts(req.pool, part, pa)
      if (placement && o.isSelf !== undefined) checkPlacedHere(req.pool, part, pa, sks[0]!, o.isSelf)
      verified = verifySubtreeRequest(auth.envelope, part.config, { path, skeletons: sks }, o.trust, scratch, now, {
        expect: { action: 'deploy', pool: req.pool },
        digestHooks: { substitute: substitution(part, pa, path) },
        windowMs
      })
    }
    return verified
  }
  return {
    async refresh () {
      // A trust file broken by hand keeps the keys last read.
      await o.trust.reloadIfChanged?.().catch(() => false)
    },
    verify (req) {
      const verified = checkParts(req, o.now())
      if (verified !== undefined && burnt(verified)) {
        throw new AuthError('replayed', `request ${verified.id} already deployed pool ${req.pool} here (or was signed before this peer started)`, { operator: verified.operator, action: 'deploy', pool: req.pool, requestId: verified.id })
      }
      return verified
    },
    replacement (req) {
      if (req.auth === undefined) throw new AuthError('unsigned', `pool ${req.pool}: a re-placement carries no operator signature`)
      // Not where the operator placed it: moving it off its dead host is the point. The participant checks the move
      // against the pool record instead (replacement-check.ts).
      return checkParts(req, parseEnvelope(req.auth.envelope).time, false)
    },
    admit (v, paths = []) {
      const verdict = o.replay.admit(key(v), v.time, v.time + windowMs, o.now())
      if (verdict === 'replayed') throw new AuthError('replayed', `request ${v.id} already deployed pool ${v.pool ?? ''} here`, { operator: v.operator, requestId: v.id })
      if (verdict === 'full') throw new AuthError('replay-cache-full', 'too many requests inside one window; try again later', { operator: v.operator, requestId: v.id })
      for (const p of paths) {
        if (deployedAt.size >= MAX_DEPLOYED) deployedAt.delete(deployedAt.keys().next().value!)
        deployedAt.set(`${v.pool ?? ''}\0${p}`, v.time)
      }
    },
    terminate (req) {
      // The signed body names the component (`path`) or, without one, the whole pool: a signed terminate of one
      // component never ends a whole part, nor another component.
      const named = req.auth?.body.path ?? ''
      if (req.auth !== undefined && named !== (req.component ?? '')) throw new AuthError('body-mismatch', `pool ${req.pool}: the signed terminate names ${named === '' ? 'the whole pool' : String(named)}, not ${req.component ?? 'the whole pool'}`)
      const v = signed(req.auth, 'terminate', req.pool, { pool: req.pool, type: req.kind }, scratchReplay(), o, windowMs)
      const since = deployedAt.get(`${req.pool}\0${req.path}`)
      if (since !== undefined && v.time < since) {
        throw new AuthError('replayed', `pool ${req.pool}: this terminate was signed before the deploy of part ${req.path || '(root)'} it would end`, { operator: v.operator, action: 'terminate', pool: req.pool, requestId: v.id })
      }
      return v
    },
    set (req) {
      return signed(req.auth, 'set', req.pool, { pool: req.pool, path: req.path, attr: req.attr, value: req.value }, o.replay, o, windowMs, `set:${req.pool}`)
    }
  }
}

const MAX_DEPLOYED = 100_000
const scratchReplay = (): ReplayCache => new ReplayCache()

/**
 * Verifies a whole signed API request forwarded by another peer, and that the request this peer is asked to run is
 * the one signed: each of `expect`'s fields must be the signed body's.
 */
function signed (auth: SignedRequest | undefined, action: 'terminate' | 'set', pool: string, expect: Record<string, unknown>,
  replay: ReplayCache, o: PartVerifierOptions, windowMs: number, scope?: string): VerifiedRequest {
  if (auth === undefined) throw new AuthError('unsigned', `pool ${pool}: a forwarded ${action} carries no operator signature`)
  // The request must be the signed one before the signature is checked (and the id burnt): a mismatch costs nothing.
  if (auth.body.op !== action) throw new AuthError('action-mismatch', `pool ${pool}: the signed request is ${String(auth.body.op)}, not ${action}`)
  for (const [k, x] of Object.entries(expect)) {
    if (canonicalJson(auth.body[k] ?? null) !== canonicalJson(x ?? null)) throw new AuthError('body-mismatch', `pool ${pool}: the signed ${action} has another ${k}`)
  }
  return verifyRequest(auth.envelope, auth.body, o.trust, replay, o.now(), { expect: { action, pool }, windowMs, ...(scope !== undefined ? { scope } : {}) })
}

/** How the owner digests a part as the operator signed it (see the header). */
function substitution (part: PartPlan, pa: PartAuth, path: string[]): (node: Record<string, unknown>, rel: readonly string[]) => string | Record<string, unknown> | undefined {
  const cuts = new Map(pa.cuts.map(c => [c.path, c.digest]))
  const placed = new Set(pa.placed)
  return (node, rel) => {
    const abs = rel.reduce(join, part.path)
    if (isRemotePlaceholder(node as SfJsonObject)) {
      const digest = cuts.get(abs)
      if (digest === undefined) throw new DigestProofError(path, `placeholder at ${abs} has no cut`)
      return digest
    }
    if (placed.has(abs) && Object.hasOwn(node, 'sfProcessHost')) {
      const { sfProcessHost: _, ...rest } = node
      return rest
    }
    return undefined
  }
}

/** The signed placement of a part must name this peer (see PartVerifierOptions.isSelf). */
function checkPlacedHere (pool: string, part: PartPlan, pa: PartAuth, bodySkeleton: Record<string, unknown>, isSelf: (host: string) => boolean): void {
  const refuse = (why: string): never => { throw new AuthError('body-mismatch', `pool ${pool}: part ${part.path || '(root)'} ${why}`) }
  const at = part.path === '' ? bodySkeleton.at : undefined
  const own = pa.placed.includes(part.path) ? undefined : part.config.sfProcessHost
  const signedHost = at ?? own
  if (signedHost === undefined) {
    if (part.path !== '' && !pa.placed.includes(part.path)) refuse('has no sfProcessHost of its own: it cannot be a part')
    return
  }
  if (typeof signedHost !== 'string' || !isSelf(signedHost)) refuse(`is placed by the operator on ${JSON.stringify(signedHost)}, which is not this peer`)
}

/**
 * The placeholders of a part, its remote children and its cuts must name the same paths, and each placeholder must
 * be exactly what the split writes, where it writes it: the signature covers the subtree a placeholder replaced, not
 * the placeholder, so nothing else may ride in it.
 */
function checkCuts (pool: string, part: PartPlan, pa: PartAuth): void {
  const refuse = (why: string): never => { throw new AuthError('body-mismatch', `pool ${pool}: part ${part.path || '(root)'}: ${why}`) }
  const children = new Map(part.remoteChildren.map(c => [c.path, c]))
  const holders: string[] = []
  const stack: Array<{ path: string, cd: SfJsonObject }> = [{ path: part.path, cd: part.config }]
  while (stack.length > 0) {
    const { path, cd } = stack.pop()!
    for (const [k, v] of Object.entries(cd)) {
      const at = join(path, k)
      if (isRemotePlaceholder(v)) {
        const ph = v as SfJsonObject
        const r = ph[REMOTE_KEY] as Record<string, unknown>
        const c = children.get(at)
        if (Object.keys(ph).length !== 2 || Object.keys(r).length !== 3 || c === undefined || r.path !== at || r.host !== c.host || r.peer !== c.peer) {
          refuse(`the placeholder at ${at} is not the split's`)
        }
        holders.push(at)
      } else if (isEagerComponent(v)) stack.push({ path: at, cd: v })
    }
  }
  const key = (xs: string[]): string => JSON.stringify([...xs].sort())
  if (key(holders) !== key([...children.keys()]) || key(holders) !== key(pa.cuts.map(c => c.path))) {
    refuse('its remote children, placeholders and cuts differ')
  }
}
