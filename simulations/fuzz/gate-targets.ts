import fc from 'fast-check'
import { AuthError, ReplayCache, canonicalJson, generateOperatorKey, requiresSignature } from '../../protocol/auth/index.ts'
import type { TrustLookup } from '../../protocol/auth/index.ts'
import { ApiAuthError, createAuthorizer } from '../../node/api/auth-gate.ts'
import type { Request } from '../../node/api/messages.ts'
import { createPartVerifier, proveParts } from '../../node/deploy/auth.ts'
import { splitPool } from '../../node/deploy/split.ts'
import { validateDeployRequest } from '../../node/deploy/wire.ts'
import { ProtocolValidationError } from '../../protocol/errors.ts'
import { actionOf, apiRequestBody, signApiRequest } from '../../node/security/request-auth.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'
import { mutatedJson } from './mutate.ts'
import type { FuzzTarget } from './targets.ts'

// Fuzz targets for the enforcement points of issue 7: the control API's auth gate and the owner's check of a
// forwarded prepare. Beyond "no crash, no hang", each checks the security property itself: whatever a mutation
// produces, a request the gate lets change something is exactly one the operator signed, and a prepare an owner
// accepts deploys exactly the components the operator signed.

type ExpectOnly = (what: string, classes: Array<abstract new (...a: never[]) => Error>, fn: () => void) => void

const NOW = 1_790_000_000_000
const op = generateOperatorKey()
const viewer = generateOperatorKey()
const trust: TrustLookup = {
  lookup: k => k === op.publicText ? { key: k, role: 'operator', pools: ['web*'] } : k === viewer.publicText ? { key: k, role: 'viewer', pools: ['*'] } : undefined
}
const clock = { now: () => NOW, setTimeout: () => ({ cancel () {} }), sleep: async () => {} }
const xen = 'ch.cern.openlab.smartdomains.XenDomainImpl'
const config: SfJsonObject = {
  sfClass: 'org.smartfrog.sfcore.compound.CompoundImpl',
  c1: { sfProcessHost: 'h1', vm: { sfClass: xen, memory: 512, kernel: '/boot/k', tags: [1, 'a'] }, inner: { sfClass: 'x', sfProcessHost: 'h2', vm: { sfClass: xen, memory: 64 } } },
  c2: { sfClass: 'x', vm: { sfClass: xen, memory: 256 } }
}

const sign = (key: typeof op, req: { op: string, id: number, [k: string]: unknown }): Record<string, unknown> => signApiRequest(key.privateKey, req, { time: NOW })
const gateSeeds = [
  sign(op, { id: 1, op: 'deploy', pool: 'web', config, wait: false }),
  sign(op, { id: 2, op: 'terminate', pool: 'web1', type: 'normal' }),
  sign(op, { id: 3, op: 'set', pool: 'web', path: 'c1:vm', attr: 'memory', value: 1024 }),
  sign(viewer, { id: 4, op: 'terminate', pool: 'web', type: 'abnormal' }),
  sign(viewer, { id: 5, op: 'status', pool: 'web' }),
  { id: 6, op: 'status' },
  { id: 7, op: 'deploy', pool: 'web', config, wait: true }
]
// What the operators signed: the only changing requests the gate may ever let through.
const signedTexts = new Set(gateSeeds.filter(s => s.auth !== undefined).map(s => canonicalJson({ body: apiRequestBody(s as never), auth: s.auth })))

// One owner's prepare: h1 holds c1 (its remote child c1:inner goes to h2), and c2 was placed on h1 by the scheduler.
const peers: Record<string, string> = { h1: 'P1', h2: 'P2', entry: 'P0' }
const placed = structuredClone(config)
;(placed.c2 as SfJsonObject).sfProcessHost = 'h1'
const signedDeploy = signApiRequest(op.privateKey, { op: 'deploy', pool: 'web', config, wait: false }, { time: NOW })
const plan = splitPool(placed, { pool: 'web', entryPeer: 'P0', entryHost: 'entry', resolveHost: h => peers[h] })
const mine = plan.parts.filter(p => p.peer === 'P1')
const prepare = {
  type: 'prepare', deployId: 'd1', pool: 'web', coordinator: 'P0', participants: ['P0', 'P1', 'P2'], leaseMs: 30_000, parts: mine,
  auth: proveParts('web', { envelope: signedDeploy.auth, body: apiRequestBody(signedDeploy) }, mine, new WeakMap())
}
// The entry peer may choose a host for any component the operator left unplaced (the scheduler does); so what the
// signature covers is each part without the sfProcessHost values the signed pool does not have.
function unplaced (node: unknown, signed: unknown): unknown {
  if (typeof node !== 'object' || node === null || Array.isArray(node)) return node
  const s = (typeof signed === 'object' && signed !== null && !Array.isArray(signed) ? signed : {}) as Record<string, unknown>
  const out: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(node)) {
    if (k === 'sfProcessHost' && s.sfProcessHost === undefined) continue
    Object.defineProperty(out, k, { value: unplaced(v, s[k]), enumerable: true, writable: true, configurable: true })
  }
  return out
}
const signedAt = (path: unknown): unknown => typeof path !== 'string' ? undefined : (path === '' ? [] : path.split(':')).reduce<unknown>((n, k) => (n as Record<string, unknown> | undefined)?.[k], config)
// Each accepted part must be one the operator signed. A prepare holding fewer of them than the plan passes: the
// forwarding peer can always deploy less than asked (the deploy then lacks parts), never something else.
const covered = (p: { path: unknown, config: unknown }): string => canonicalJson({ path: p.path, config: unplaced(p.config, signedAt(p.path)) })
const signedParts = new Set(mine.map(covered))

export function gateTargets (expectOnly: ExpectOnly): FuzzTarget[] {
  const gate: FuzzTarget = {
    name: 'api-gate',
    input: fc.oneof(
      { weight: 5, arbitrary: mutatedJson(gateSeeds) },
      { weight: 1, arbitrary: fc.record({ id: fc.nat(), op: fc.constantFrom('deploy', 'terminate', 'set', 'status', 'ls', 'forget', 'image-delete', 'nope'), pool: fc.string({ maxLength: 10 }), auth: fc.anything() }, { requiredKeys: ['op'] }) }
    ),
    check (input) {
      const authorize = createAuthorizer({ trust, clock, insecure: false, replay: new ReplayCache() })
      let verdict: ReturnType<typeof authorize> | undefined
      expectOnly('auth gate', [ApiAuthError], () => { verdict = authorize(input as Request) })
      if (verdict === undefined) return
      const req = input as Record<string, unknown> & { op: string }
      const changes = requiresSignature(actionOf(req.op))
      if (verdict.kind === 'unsigned-read' && changes) throw new FuzzFaultLike(`the gate let an unsigned ${req.op} through`)
      if (verdict.kind === 'verified' && changes && !signedTexts.has(canonicalJson({ body: apiRequestBody(req), auth: req.auth }))) {
        throw new FuzzFaultLike(`the gate let an altered ${req.op} through`)
      }
    }
  }

  const partVerify: FuzzTarget = {
    name: 'deploy-part-verify',
    input: fc.oneof(
      { weight: 6, arbitrary: mutatedJson([prepare]) },
      { weight: 1, arbitrary: fc.record({ type: fc.constant('prepare'), deployId: fc.constant('d'), pool: fc.constant('web'), coordinator: fc.constant('P0'), participants: fc.constant(['P1']), leaseMs: fc.constant(1), parts: fc.constant(mine), auth: fc.anything() }) }
    ),
    check (input) {
      const verifier = createPartVerifier({ trust, replay: new ReplayCache(), now: () => NOW, isSelf: h => peers[h] === 'P1' })
      let accepted: { parts: Array<{ path: unknown, config: unknown }> } | undefined
      expectOnly('validateDeployRequest + verifyPart', [ProtocolValidationError, AuthError], () => {
        const req = validateDeployRequest(input)
        if (req.type !== 'prepare') return
        verifier.verify(req, 'P0')
        accepted = req
      })
      if (accepted !== undefined && !accepted.parts.every(p => signedParts.has(covered(p)))) throw new FuzzFaultLike('an owner accepted parts the operator did not sign')
    }
  }
  return [gate, partVerify]
}

/** A property violation (targets.ts's FuzzFault, declared here to avoid an import cycle). */
class FuzzFaultLike extends Error {
  override readonly name = 'FuzzFault'
}
