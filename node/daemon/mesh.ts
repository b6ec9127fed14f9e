import { join } from 'node:path'
import { preSharedKey } from '@libp2p/pnet'
import { createMeshNode } from '../mesh/node.ts'
import type { HostView, MeshNode } from '../mesh/node.ts'
import { createForgetAuthorizer } from '../mesh/forget-auth.ts'
import type { ForgetOutcome } from '../mesh/forget.ts'
import type { ForgetBody } from '../../protocol/forget.ts'
import type { RequestEnvelope } from '../../protocol/auth/index.ts'
import { writeFileAtomic } from '../mesh/identity.ts'
import type { MembershipConfig } from '../mesh/membership/types.ts'
import { attachDeploy, createPartVerifier, hostPolicy, PoolEnginePartEngine, setPolicy, splitPool, terminateOrphans } from '../deploy/index.ts'
import { fenceRecovered } from '../deploy/fence-recovered.ts'
import { LiveReplacement } from '../deploy/replacement.ts'
import type { DeployPeer, OrphanPolicy, PartPolicy, SetPolicy } from '../deploy/index.ts'
import { HostAdmission } from '../scheduler/admission.ts'
import { announceAdmissionLoad } from '../scheduler/announce-load.ts'
import { assignScheduledHosts } from '../scheduler/assign.ts'
import { deployScheduled } from '../scheduler/deploy-scheduled.ts'
import { seedFromString } from '../scheduler/random.ts'
import { imageRefsOf } from '../images/service.ts'
import { fixPnetCipher } from './pnet-cipher-fix.ts'
import type { DeployRequestOptions, DeployResult } from '../deploy/coordinator.ts'
import type { HostSecurity } from '../security/index.ts'
import type { HostCapacity } from '../drivers/types.ts'
import type { PoolEngine } from '../engine/types.ts'
import type { Clock } from '../seams/clock.ts'
import type { SfJsonObject } from '../sf/sfjson.ts'
import type { Logger } from './logger.ts'

// The daemon's mesh half: a libp2p peer (the pool key as its private-network protector), the deploy service on it
// (two-phase deploys, the pool registry, routed status/get/set/terminate) over this host's engine, and the
// scheduler's host admission that judges every reservation against the driver's capacity. Assembled here so that
// daemon.ts stays a list of steps; the pieces themselves live in node/mesh, node/deploy and node/scheduler.

export const MESH_FILE = 'mesh.json'
export const DEFAULT_LISTEN = '/ip4/127.0.0.1/tcp/0'

export interface MeshOptions {
  /** Multiaddrs to listen on; default [DEFAULT_LISTEN] (loopback: a real host passes its LAN address). */
  listen?: string[]
  /** Multiaddrs (with /p2p/ID) of peers to join through. */
  bootstrap?: string[]
  /** Further names (or addresses) this host answers to in sfProcessHost. */
  aliases?: string[]
  membership?: Partial<MembershipConfig>
  /** Re-announcement period of the host directory (default: the mesh node's 5 min; directory sync does the rest). */
  announceIntervalMs?: number
  /** Deploy request timeout (ms) to other peers; default node/deploy's. */
  requestTimeoutMs?: number
}

export interface MeshStart {
  host: string
  stateDir: string
  driver: string
  version: string
  capacity: HostCapacity
  engine: PoolEngine
  security: HostSecurity
  clock: Clock
  log: Logger
  options: MeshOptions
}

/** What `sdpeer hosts` answers. */
export interface HostsResult {
  self: { peerId: string, host: string, addrs: string[], insecure: boolean, poolKey?: string }
  hosts: Array<HostView & { insecure?: boolean }>
  conflicts: Array<{ host: string, peers: string[] }>
}

export interface DaemonMesh {
  readonly node: MeshNode
  readonly peer: DeployPeer
  readonly admission: HostAdmission
  /** True when the description places some component on another peer (or names a host nobody answers to). */
  placesElsewhere (pool: string, config: SfJsonObject): boolean
  /** Where the scheduler chooses hosts for Schedulee children, before the split. */
  schedule (pool: string, config: SfJsonObject): Promise<SfJsonObject>
  /**
   * The two-phase mesh deploy of an UNSCHEDULED description: places its Schedulee children, deploys, and when hosts
   * refuse their reservations places again from what they said (node/scheduler/deploy-scheduled.ts).
   */
  deployScheduled (pool: string, config: SfJsonObject, options: DeployRequestOptions): Promise<DeployResult>
  /** This host's policy (--allow-path, names, addresses), for what it deploys or changes outside a prepare. */
  readonly policy?: PartPolicy
  readonly setPolicy?: SetPolicy
  hosts (): HostsResult
  /** `sdpeer hosts forget`, already checked by the control API's gate: here, then every member (each verifies). */
  forget (host: string, peer: string | undefined, envelope: RequestEnvelope | undefined): Promise<ForgetOutcome>
  stop (): Promise<void>
}

export async function startMesh (s: MeshStart): Promise<DaemonMesh> {
  const log = s.log.child({ component: 'mesh' })
  // Before the first connection: the pool key's cipher would otherwise kill the daemon after it served an image.
  if (s.security.poolKey !== undefined) fixPnetCipher()
  const node = await createMeshNode({
    host: s.host,
    ...(s.options.aliases !== undefined && s.options.aliases.length > 0 ? { hostNames: s.options.aliases } : {}),
    listen: s.options.listen !== undefined && s.options.listen.length > 0 ? s.options.listen : [DEFAULT_LISTEN],
    bootstrap: s.options.bootstrap ?? [],
    stateDir: s.stateDir,
    driver: s.driver,
    version: s.version,
    capacity: { memoryMb: s.capacity.memoryMiB, vcpus: s.capacity.vcpus },
    clock: s.clock,
    ...(s.options.membership !== undefined ? { membership: s.options.membership } : {}),
    ...(s.options.announceIntervalMs !== undefined ? { announceIntervalMs: s.options.announceIntervalMs } : {}),
    ...(s.security.insecure ? { insecure: true } : {}),
    // Every member checks a forwarded `hosts forget` against its own trust store (admin only, once, in the window).
    authorizeForget: createForgetAuthorizer({
      trust: s.security.trust,
      replay: s.security.replay,
      now: () => Date.now(),
      insecure: s.security.insecure,
      warn: (message, context) => { log.warn(context, message) }
    }),
    // Without the pool key the mesh is open to anyone who can reach the port: only in --insecure mode.
    ...(s.security.poolKey !== undefined ? { connectionProtector: preSharedKey({ psk: s.security.poolKey.protectorKey }) } : {})
  })
  await node.start()
  // Every membership change in the log, with its wall time: what an operator reads after an incident, and what the
  // benchmarks time failure detection by.
  node.membership.on(e => {
    if (e.type === 'refute') log.warn({ event: 'refute', incarnation: e.incarnation }, 'suspected by the mesh: refuted')
    else if (e.type === 'dead') log.warn({ event: 'dead', peer: e.member.id, left: e.member.left === true }, 'member dead')
    else log.info({ event: e.type, peer: e.member.id }, `member ${e.type}`)
  })
  const stopNode = async (): Promise<void> => { await node.stop({ leave: true }).catch(() => {}) }
  try {
    const admission = new HostAdmission({ host: s.host, capacity: { ...s.capacity }, clock: s.clock })
    admission.start()
    // Load travels with the signed announcement (coalesced), so other peers' schedulers see what this host promised.
    const stopAnnouncing = announceAdmissionLoad(node, admission, s.clock)
    // Issue 7 at prepare: every owner checks its parts against the ORIGINAL operator's signature (not the forwarding
    // peer's word), and against this host's policy. Both are off only in --insecure mode, where the policy still
    // applies if --allow-path was given.
    const policy = !s.security.insecure || s.security.allowed.read.length > 0
      ? { policy: hostPolicy(s.security.allowed), setPolicy: setPolicy(s.security.allowed) }
      : {}
    const verifyPart = s.security.insecure
      ? {}
      : { verifyPart: createPartVerifier({ trust: s.security.trust, replay: s.security.replay, now: () => Date.now(), isSelf: h => node.resolveHost(h) === node.peerId }) }
    // Orphans are answered by the re-placement duty below once it exists (it knows where a lost parent went);
    // until then, by SmartFrog's answer.
    let orphans: OrphanPolicy = terminateOrphans
    const peer = await attachDeploy(node, {
      ...policy,
      ...verifyPart,
      orphanPolicy: async report => await orphans(report),
      selfHost: s.host,
      engine: new PoolEnginePartEngine({ engine: s.engine, admission }),
      clock: s.clock,
      ...(s.options.requestTimeoutMs !== undefined ? { timings: { requestTimeoutMs: s.options.requestTimeoutMs } } : {}),
      log: (message, context) => { log.info(context, message) }
    })

    // Issue 6: a part recovered from the state dir that the pool record placed elsewhere while this host was dead
    // is stopped before the daemon answers for anything (fencing); then this peer takes its share of the pools'
    // coordinator role: re-placing the scheduled VMs and the other parts (the root too) of a host the failure
    // detector declares dead, and telling the orphaned children where their parent went.
    const isLive = (p: string): boolean => p === node.peerId || node.membership.member(p)?.status !== 'dead'
    const meshLog = (message: string, context: Record<string, unknown>): void => { log.info(context, message) }
    await fenceRecovered({
      engine: s.engine,
      peer,
      members: () => [node.peerId, ...node.membership.members().filter(m => m.status === 'alive').map(m => m.id)],
      clock: s.clock,
      log: meshLog,
      waitMs: (s.options.bootstrap ?? []).length > 0 ? 10_000 : 0
    })
    const replacement = new LiveReplacement({
      peer, clock: s.clock, isLive, hosts: () => node.hosts(), imagesOf: imageRefsOf, log: meshLog,
      members: () => node.membership.members().filter(m => m.status !== 'dead').map(m => m.id)
    })
    orphans = replacement.orphanPolicy
    replacement.start()
    const stopWatchingMembers = node.membership.on(e => { if (e.type === 'dead' || e.type === 'alive' || e.type === 'join') void replacement.poke() })

    const addrs = node.multiaddrs()
    await writeFileAtomic(join(s.stateDir, MESH_FILE), new TextEncoder().encode(JSON.stringify({ peerId: node.peerId, addrs, host: s.host }) + '\n'), 0o644)
    log.info({ peerId: node.peerId, addrs, poolKey: s.security.poolKey?.fingerprint ?? 'none (insecure)' }, 'mesh peer listening')

    return {
      node,
      peer,
      admission,
      ...policy,
      placesElsewhere (pool, config) {
        try {
          const plan = splitPool(config, { pool, entryPeer: node.peerId, entryHost: s.host, resolveHost: h => node.resolveHost(h) })
          return plan.parts.some(p => p.peer !== node.peerId)
        } catch {
          // An unknown or malformed sfProcessHost: the mesh deploy reports it, naming the attribute.
          return true
        }
      },
      async schedule (pool, config) {
        // ---- scheduler hook: the one place where Schedulee children get their sfProcessHost ----
        // From this peer's view of the mesh; the hosts still judge at prepare (their HostAdmission). Seeded per pool
        // and peer, so two peers deploying at once do not draw the same hosts.
        return assignScheduledHosts(config, node.hosts(), { pool, seed: seedFromString(`${pool}/${node.peerId}`), imagesOf: imageRefsOf }).config
      },
      async deployScheduled (pool, config, options) {
        const r = await deployScheduled(peer, pool, config, () => node.hosts(), { clock: s.clock, deploy: options, imagesOf: imageRefsOf })
        return r.result
      },
      hosts (): HostsResult {
        const self = { peerId: node.peerId, host: s.host, addrs: node.multiaddrs(), insecure: s.security.insecure, ...(s.security.poolKey !== undefined ? { poolKey: s.security.poolKey.fingerprint } : {}) }
        // Every peer announces its insecure flag (absent: secure); our own is what this daemon runs with.
        const hosts = node.hosts().map(h => h.peerId === node.peerId ? { ...h, insecure: s.security.insecure } : h)
        const conflicts = node.conflicts().map(c => ({ host: c.hostName, peers: c.peers }))
        return { self, hosts, conflicts }
      },
      async forget (host, peer, envelope) {
        // The body the operator signed: the control API request minus id and auth (node/security/request-auth.ts).
        const body: ForgetBody = { op: 'forget', host, ...(peer !== undefined ? { peer } : {}) }
        const outcome = await node.forget({ body, ...(envelope !== undefined ? { envelope } : {}) })
        log.info({ host, forgotten: outcome.forgotten, members: outcome.members.map(m => ({ peer: m.peerId, outcome: m.outcome })) }, 'hosts forget')
        return outcome
      },
      async stop () {
        stopWatchingMembers()
        replacement.stop()
        stopAnnouncing()
        admission.stop()
        peer.stop()
        await stopNode()
      }
    }
  } catch (err) {
    await stopNode()
    throw err
  }
}
