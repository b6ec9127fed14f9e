import fc from 'fast-check'
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseText } from '../../node/sf/parser.ts'
import { checkText } from '../../node/sf/index.ts'
import { SfFileNotFoundError } from '../../node/sf/diagnostics.ts'
import { AuthError, ReplayCache, canonicalJson, generateOperatorKey, proveSubtree, signRequest, verifyRequest, verifySubtreeRequest } from '../../protocol/auth/index.ts'
import type { TrustLookup } from '../../protocol/auth/index.ts'
import { FrameDecoder, FrameTooLargeError, encodeFrame } from '../../node/api/framing.ts'
import { ApiRequestError, parseRequest } from '../../node/api/messages.ts'
import { decodeMembershipMessage, encodeMembershipMessage } from '../../protocol/membership.ts'
import type { MembershipMessage } from '../../protocol/membership.ts'
import { MessageTooLargeError, ProtocolValidationError } from '../../protocol/errors.ts'
import { checkPoolNames, nameProblem } from '../../node/security/names.ts'
import type { NameKind } from '../../node/security/names.ts'
import { deepText, mutatedJson, mutatedText, sfishText } from './mutate.ts'
import { wireTargets } from './wire-targets.ts'
import { gateTargets } from './gate-targets.ts'

// Every fuzz target: an input generator and a check that throws only on a real fault — an error of a class the
// code under test does not promise (a crash), or an input that took longer than its bound (a hang). Shared by the
// bounded test (test/fuzz/) and the long run (simulations/fuzz/run.ts).

export interface FuzzTarget {
  name: string
  /** Inputs, as fast-check arbitraries: random ones and mutations of real ones. */
  input: fc.Arbitrary<unknown>
  /** Throws FuzzFault (or any unexpected error) for a fault. */
  check (input: unknown): void
}

export class FuzzFault extends Error {
  override readonly name = 'FuzzFault'
}

/**
 * Faults found by fuzzing in code this suite does not own, reported to its owner and not yet fixed. A match is
 * counted (and printed by the runner) instead of failing the run, so the fuzz test stays a gate for new faults.
 * Each entry must be narrow: the exact error and the function it comes from. Remove it when the owner fixes it.
 */
export const KNOWN_FAULTS: Array<{ id: string, note: string, matches (err: unknown): boolean }> = []

export const knownFaultCounts = new Map<string, number>()

/**
 * Per-input time bound (ms; FUZZ_INPUT_MS overrides). Generous because the whole suite shares two cores: the slowest
 * honest input measured alone is under 1 s, and a hang or a quadratic blow-up on a 20,000-deep input is far above it.
 */
export const PER_INPUT_MS = Number(process.env.FUZZ_INPUT_MS ?? 5000)

function timed (what: string, fn: () => void): void {
  const t0 = performance.now()
  fn()
  const ms = performance.now() - t0
  if (ms > PER_INPUT_MS) throw new FuzzFault(`${what} took ${ms.toFixed(0)} ms (bound ${PER_INPUT_MS} ms)`)
}

function expectOnly (what: string, classes: Array<abstract new (...a: never[]) => Error>, fn: () => void): void {
  timed(what, () => {
    try {
      fn()
    } catch (err) {
      if (classes.some(c => err instanceof c)) return
      const known = KNOWN_FAULTS.find(k => k.matches(err))
      if (known !== undefined) { knownFaultCounts.set(known.id, (knownFaultCounts.get(known.id) ?? 0) + 1); return }
      throw new FuzzFault(`${what} threw ${(err as Error)?.name ?? typeof err}: ${String((err as Error)?.message ?? err).slice(0, 300)}`, { cause: err })
    }
  })
}

const root = fileURLToPath(new URL('../../', import.meta.url))

function sfFiles (dir: string, out: string[] = []): string[] {
  for (const e of readdirSync(dir)) {
    const p = join(dir, e)
    if (statSync(p).isDirectory()) sfFiles(p, out)
    else if (e.endsWith('.sf')) out.push(p)
  }
  return out
}

/** Real .sf texts to mutate: the examples, the parser's fixtures and the bundled library. */
export const sfSeeds: string[] = ['examples', 'test/fixtures/sf', 'node/sf/library']
  .flatMap(d => { try { return sfFiles(join(root, d)) } catch { return [] } })
  .map(p => readFileSync(p, 'utf8'))
  .filter(t => t.length < 20_000)

// Includes resolve against an empty directory: a fuzzed `#include` finds the bundled library or nothing.
let cwdDir: string | undefined
function cwd (): string {
  if (cwdDir === undefined) {
    cwdDir = mkdtempSync(join(tmpdir(), 'sdpeer-fuzz-'))
    process.once('exit', cleanupFuzz)
  }
  return cwdDir
}
/** Removes the fuzzers' temp directory (also done at process exit, which test workers may not reach). */
export function cleanupFuzz (): void {
  if (cwdDir !== undefined) rmSync(cwdDir, { recursive: true, force: true })
  cwdDir = undefined
}

const sfText = fc.oneof(
  { weight: 5, arbitrary: mutatedText(sfSeeds.length > 0 ? sfSeeds : ['sfConfig extends Compound;']) },
  { weight: 3, arbitrary: sfishText },
  { weight: 1, arbitrary: fc.string({ maxLength: 2000, unit: 'binary' }) },
  { weight: 1, arbitrary: deepText }
)

const sfParser: FuzzTarget = {
  name: 'sf-parser',
  input: sfText,
  check (text) {
    expectOnly('parseText', [SfFileNotFoundError], () => { parseText(text as string, 'fuzz.sf', { cwd: cwd() }) })
  }
}

const sfCheck: FuzzTarget = {
  name: 'sf-check',
  input: sfText,
  check (text) {
    expectOnly('checkText', [SfFileNotFoundError], () => { checkText(text as string, 'fuzz.sf', { cwd: cwd(), env: {} }) })
  }
}

// --- operator request envelopes -------------------------------------------------------------------------------
const op = generateOperatorKey()
const trust: TrustLookup = { lookup: k => k === op.publicText ? { key: k, role: 'operator', pools: ['web*'] } : undefined }
const NOW = 1_790_000_000_000
const body = { config: { sfClass: 'x.Compound', c1: { sfProcessHost: 'h1', vm: { memory: 512, kernel: '/boot/k', tags: [1, 'a'] } }, c2: { vm: { memory: 256 } } } }
const envelope = signRequest(op.privateKey, 'deploy', 'web', body, { time: NOW })
const { subtree, proof } = proveSubtree(body, ['config', 'c1'])
const signedText = canonicalJson({ envelope, body })
const subtreeText = canonicalJson({ envelope, subtree, proof })

const envelopeInput = fc.oneof(
  { weight: 4, arbitrary: mutatedJson([{ envelope, body }]) },
  { weight: 1, arbitrary: fc.record({ envelope: fc.anything(), body: fc.jsonValue({ maxDepth: 4 }) }) },
  { weight: 1, arbitrary: fc.record({ envelope: fc.record({ v: fc.constantFrom(1, 2), id: fc.string(), time: fc.integer(), operator: fc.constantFrom(op.publicText, 'ed25519:' + 'A'.repeat(43)), action: fc.string(), pool: fc.string(), bodyDigest: fc.string(), sig: fc.string() }, { requiredKeys: [] }), body: fc.constant(body) }) }
)

const verifier: FuzzTarget = {
  name: 'auth-verify',
  input: envelopeInput,
  check (input) {
    const i = input as { envelope?: unknown, body?: unknown } | null
    let accepted = false
    expectOnly('verifyRequest', [AuthError], () => {
      verifyRequest(i?.envelope, i?.body, trust, new ReplayCache(), NOW)
      accepted = true
    })
    // A mutation that still verifies must be the signed request itself (a no-op edit), never a changed one.
    if (accepted && canonicalJson({ envelope: i?.envelope, body: i?.body }) !== signedText) throw new FuzzFault('verifyRequest accepted an altered request')
  }
}

const subtreeVerifier: FuzzTarget = {
  name: 'auth-subtree',
  input: mutatedJson([{ envelope, subtree, proof }]),
  check (input) {
    const i = input as { envelope?: unknown, subtree?: unknown, proof?: unknown } | null
    let accepted = false
    expectOnly('verifySubtreeRequest', [AuthError], () => {
      verifySubtreeRequest(i?.envelope, i?.subtree, i?.proof, trust, new ReplayCache(), NOW)
      accepted = true
    })
    if (accepted && canonicalJson({ envelope: i?.envelope, subtree: i?.subtree, proof: i?.proof }) !== subtreeText) {
      throw new FuzzFault('verifySubtreeRequest accepted an altered subtree')
    }
  }
}

// --- control API frames -----------------------------------------------------------------------------------------
const validRequests = [
  { id: 1, op: 'ping' },
  { id: 'a', op: 'deploy', pool: 'web', config: body.config, wait: true, auth: { key: op.publicText, time: NOW, signature: 'x' } },
  { id: 2, op: 'terminate', pool: 'web', type: 'abnormal', reason: 'r' },
  { id: 3, op: 'set', pool: 'web', path: 'c1:vm', attr: 'memory', value: [1, { a: null }] },
  { id: 4, op: 'get', pool: 'web', path: '', attr: 'x' },
  { id: 5, op: 'logs', pool: 'web', path: 'c1', follow: true },
  { id: 6, op: 'cancel', target: 'a' },
  { id: 7, op: 'status' }
]

const apiInput = fc.oneof(
  { weight: 3, arbitrary: mutatedJson(validRequests).map(v => ({ kind: 'frames' as const, value: v, cut: 0 })) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('bytes' as const), bytes: fc.uint8Array({ maxLength: 4096 }), cut: fc.nat({ max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('frames' as const), value: fc.jsonValue({ maxDepth: 5 }), cut: fc.nat({ max: 64 }) }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant('header' as const), size: fc.nat(), body: fc.uint8Array({ maxLength: 512 }), cut: fc.nat({ max: 8 }) }) }
)

function framesOf (input: Record<string, unknown>): Buffer {
  if (input.kind === 'bytes') return Buffer.from(input.bytes as Uint8Array)
  if (input.kind === 'header') {
    const h = Buffer.alloc(4)
    h.writeUInt32BE((input.size as number) >>> 0)
    return Buffer.concat([h, Buffer.from(input.body as Uint8Array)])
  }
  return Buffer.concat([encodeFrame(input.value), encodeFrame(input.value)])
}

const apiDecoder: FuzzTarget = {
  name: 'api-frames',
  input: apiInput,
  check (input) {
    const bytes = framesOf(input as Record<string, unknown>)
    const cut = (input as { cut: number }).cut
    expectOnly('FrameDecoder + parseRequest', [FrameTooLargeError], () => {
      const dec = new FrameDecoder(64 * 1024)
      // Split into chunks at `cut` strides, as a socket might deliver them.
      const step = cut > 0 ? cut : bytes.length || 1
      for (let at = 0; at < bytes.length; at += step) {
        for (const d of dec.push(bytes.subarray(at, at + step))) {
          if (!d.ok) continue
          expectOnly('parseRequest', [ApiRequestError], () => { parseRequest(d.value) })
        }
      }
    })
  }
}

// --- mesh membership messages -------------------------------------------------------------------------------------
const validMembership: MembershipMessage[] = [
  { type: 'gossip', updates: [{ status: 'alive', id: 'peerA', inc: 3, addrs: ['/ip4/127.0.0.1/tcp/1'] }, { status: 'suspect', id: 'peerB', inc: 1, from: 'peerA' }] },
  { type: 'ping-req', seq: 9, target: 'peerB', targetAddrs: ['/ip4/127.0.0.1/tcp/2'], updates: [] },
  { type: 'ind-ack', seq: 9, target: 'peerB', ok: false, updates: [{ status: 'dead', id: 'peerC', inc: 0 }] },
  { type: 'push-pull', join: true, reply: false, members: [{ status: 'alive', id: 'peerA', inc: 0 }] }
]

const membershipInput = fc.oneof(
  { weight: 3, arbitrary: mutatedJson(validMembership).map(v => { try { return Buffer.from(JSON.stringify(v) ?? 'null') } catch { return Buffer.from('x') } }) },
  { weight: 1, arbitrary: fc.uint8Array({ maxLength: 2048 }).map(b => Buffer.from(b)) },
  { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 6 }).map(v => Buffer.from(JSON.stringify(v))) }
)

const membership: FuzzTarget = {
  name: 'mesh-membership',
  input: membershipInput,
  check (bytes) {
    expectOnly('decodeMembershipMessage', [ProtocolValidationError, MessageTooLargeError], () => {
      const m = decodeMembershipMessage(bytes as Uint8Array, { peer: 'fuzz' })
      encodeMembershipMessage(m)
    })
  }
}

// --- description names ------------------------------------------------------------------------------------------
const KINDS: NameKind[] = ['host-name', 'domain-name', 'ipv4', 'ipv6', 'ip', 'netmask', 'host-or-ip', 'volume-name', 'file-name']
const names: FuzzTarget = {
  name: 'names',
  input: fc.tuple(fc.oneof(fc.string({ maxLength: 300 }), fc.ipV4(), fc.ipV6(), fc.domain(), fc.jsonValue({ maxDepth: 2 })), fc.jsonValue({ maxDepth: 4 })),
  check (input) {
    const [value, tree] = input as [unknown, unknown]
    expectOnly('nameProblem', [], () => { for (const k of KINDS) nameProblem(k, value) })
    const config = { c: { sfClass: 'ch.cern.openlab.smartdomains.XenDomainImpl', hostname: value, ip: value, netmask: value, child: tree } }
    expectOnly('checkPoolNames', [], () => { checkPoolNames(JSON.parse(JSON.stringify(config) ?? '{}')) })
  }
}

export const targets: FuzzTarget[] = [sfParser, sfCheck, verifier, subtreeVerifier, apiDecoder, membership, ...wireTargets(expectOnly), ...gateTargets(expectOnly), names]
