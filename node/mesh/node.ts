import { noise } from '@chainsafe/libp2p-noise'
import { yamux } from '@chainsafe/libp2p-yamux'
import { gossipsub, TopicValidatorResult } from '@libp2p/gossipsub'
import type { GossipSub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import type { Libp2p, PeerId, PrivateKey } from '@libp2p/interface'
import { peerIdFromString } from '@libp2p/peer-id'
import { ping } from '@libp2p/ping'
import type { Ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import type { Libp2pInit } from 'libp2p'
import { decodeSignedAnnouncement, isValidHostName } from '../../protocol/directory.ts'
import type { HostAnnouncement, HostCapacity, HostLoad } from '../../protocol/directory.ts'
import { ProtocolValidationError } from '../../protocol/errors.ts'
import { ANNOUNCEMENT_TOPIC, DIRECTORY_FETCH_PROTOCOL } from '../../protocol/ids.ts'
import { MAX_ANNOUNCED_IMAGES, MAX_ANNOUNCEMENT_BYTES } from '../../protocol/limits.ts'
import { realClock } from '../seams/clock.ts'
import type { Clock, Timer } from '../seams/clock.ts'
import { Directory, signAnnouncement } from './directory.ts'
import { DirectorySync } from './directory-sync.ts'
import { Connector } from './connector.ts'
import type { HostConflict } from './directory.ts'
import { AnnouncementRejectedError } from './errors.ts'
import { ForgetService } from './forget.ts'
import type { ClaimantState, ForgetAuthorizer, ForgetOutcome } from './forget.ts'
import type { ForgetWireRequest } from '../../protocol/forget.ts'
import { loadOrCreateIdentity } from './identity.ts'
import { Libp2pMembershipTransport } from './libp2p-transport.ts'
import { nativeNoiseCrypto } from './noise-crypto.ts'
import { DuplicateConnectionPruner } from './one-connection.ts'
import { Membership } from './membership/membership.ts'
import { seededRandom } from './membership/random.ts'
import type { MemberStatus, MembershipConfig } from './membership/types.ts'
import { MisbehaviourLog } from './misbehaviour.ts'
import { Rpc } from './rpc.ts'
import type { RpcProtocolSpec } from './rpc.ts'

// One mesh peer: a libp2p node (TCP, noise, yamux, identify, ping, gossipsub) carrying the membership core,
// the host directory and request/response streams. Created by createMeshNode, started by start().

export interface MeshNodeInit {
  /** This machine's host name, announced first. */
  host: string
  /** Further names this host answers to. */
  hostNames?: string[]
  /** Multiaddrs to listen on (default /ip4/127.0.0.1/tcp/0). */
  listen?: string[]
  /** Multiaddrs of peers to join through (with /p2p/ID, or without when the id is not known). */
  bootstrap?: string[]
  /** Holds identity.key (created on first start). */
  stateDir: string
  driver?: string
  version?: string
  capacity?: HostCapacity
  load?: HostLoad
  membership?: Partial<MembershipConfig>
  /**
   * Re-publication period of our unchanged announcement on gossipsub (default 5 min). Not what makes directories
   * complete (directory sync does): a cheap extra path, kept rare because every copy is flooded to every peer.
   */
  announceIntervalMs?: number
  /** Period of the directory anti-entropy with one random member (default 5 s). */
  directorySyncIntervalMs?: number
  rpcTimeoutMs?: number
  seed?: number
  clock?: Clock
  /**
   * Room for the pool pre-shared key (issue 7): a libp2p connection protector (private network), applied to
   * every connection before any protocol runs.
   */
  connectionProtector?: Libp2pInit['connectionProtector']
  /** Announced so that every peer's `sdpeer hosts` shows a host running without a pool key or trust store. */
  insecure?: boolean
  /** A libp2p connection gater (which peers and addresses we accept); tests use it to cut links. */
  connectionGater?: Libp2pInit['connectionGater']
  /**
   * Checks an operator's `hosts forget` that another peer forwards (node/mesh/forget-auth.ts against the trust
   * store). Without it, forwarded forgets are refused.
   */
  authorizeForget?: ForgetAuthorizer
  /** How long the directory refuses a forgotten announcement's epoch (default 24 h). */
  tombstoneTtlMs?: number
}

export interface HostView {
  peerId: string
  hostNames: string[]
  addrs: string[]
  state: MemberStatus | 'self' | 'unknown'
  capacity?: HostCapacity
  load?: HostLoad
  driver?: string
  version?: string
  /** Base images the host holds (its announcement's names and ids). */
  images?: string[]
  /** The host runs with --insecure. */
  insecure?: boolean
  /** Clock time of the latest announcement accepted, or of the latest membership change. */
  lastHeard?: number
  incarnation?: number
  misbehaviour: number
}

type Services = { ping: Ping, identify: unknown, pubsub: GossipSub }

const announcementCodec = {
  maxBytes: MAX_ANNOUNCEMENT_BYTES,
  encode: (b: Uint8Array) => b,
  decode: (b: Uint8Array) => { decodeSignedAnnouncement(b); return b }
}

/** Asks a peer for its own signed announcement (a newly seen member, before any gossip reaches us). */
export const directoryFetchProtocol: RpcProtocolSpec<Record<string, never>, Uint8Array> = {
  id: DIRECTORY_FETCH_PROTOCOL,
  request: {
    maxBytes: 64,
    encode: () => new TextEncoder().encode('{}'),
    decode: (b) => {
      if (new TextDecoder().decode(b) !== '{}') throw new ProtocolValidationError('', 'expected {}')
      return {}
    }
  },
  response: announcementCodec
}

export async function createMeshNode (init: MeshNodeInit): Promise<MeshNode> {
  for (const name of [init.host, ...(init.hostNames ?? [])]) {
    if (!isValidHostName(name)) throw new ProtocolValidationError('host', `"${name}" is not a valid host name`)
  }
  const privateKey = await loadOrCreateIdentity(init.stateDir)
  const libp2p = await createLibp2p({
    start: false,
    privateKey,
    ...(init.connectionProtector != null ? { connectionProtector: init.connectionProtector } : {}),
    ...(init.connectionGater != null ? { connectionGater: init.connectionGater } : {}),
    addresses: { listen: init.listen ?? ['/ip4/127.0.0.1/tcp/0'] },
    // libp2p's connection monitor pings every connection every 10 s from both ends (~530 bytes a ping): at 20
    // peers ~16 kbit/s per peer of idle traffic that SWIM's probes (one member every 500 ms) already cover.
    connectionMonitor: { enabled: false },
    transports: [tcp()],
    // Node's native ChaCha20-Poly1305 without a key set-up per message (node/mesh/noise-crypto.ts).
    connectionEncrypters: [noise({ crypto: nativeNoiseCrypto })],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      // Membership and indirect probes may ping one peer at once: ping's default of one stream is too few.
      ping: ping({ maxOutboundStreams: 8, maxInboundStreams: 16 }),
      pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false })
    }
  })
  return new MeshNode(init, privateKey, libp2p as unknown as Libp2p<Services>)
}

export class MeshNode {
  readonly libp2p: Libp2p<Services>
  readonly directory: Directory
  readonly rpc: Rpc
  readonly misbehaviourLog = new MisbehaviourLog()
  readonly #init: MeshNodeInit
  readonly #key: PrivateKey
  readonly #clock: Clock
  readonly #epoch = Date.now()
  #seq = 0
  #load: HostLoad
  #images: string[] = []
  #transport: Libp2pMembershipTransport | undefined
  #membership: Membership | undefined
  #announceTimer: Timer | undefined
  #announcement: Uint8Array | undefined
  #sync: DirectorySync | undefined
  #forget: ForgetService | undefined
  readonly #connector: Connector
  readonly #pruner: DuplicateConnectionPruner

  constructor (init: MeshNodeInit, key: PrivateKey, libp2p: Libp2p<Services>) {
    this.#init = init
    this.#key = key
    this.libp2p = libp2p
    this.#clock = init.clock ?? realClock
    this.#load = init.load ?? { memoryMb: 0, vcpus: 0, domains: 0 }
    this.directory = new Directory({ clock: this.#clock, ...(init.tombstoneTtlMs !== undefined ? { tombstoneTtlMs: init.tombstoneTtlMs } : {}) })
    this.#connector = new Connector(libp2p)
    this.#pruner = new DuplicateConnectionPruner({ libp2p })
    this.rpc = new Rpc({ host: libp2p, misbehaviour: this.misbehaviourLog, timeoutMs: init.rpcTimeoutMs, connector: this.#connector })
  }

  get peerId (): string { return this.libp2p.peerId.toString() }

  /** The membership core; exists once started. */
  get membership (): Membership {
    if (this.#membership == null) throw new Error('mesh node not started')
    return this.#membership
  }

  multiaddrs (): string[] { return this.libp2p.getMultiaddrs().map(String) }

  misbehaviour (peerId: string): number { return this.misbehaviourLog.count(peerId) }

  async start (): Promise<void> {
    await this.libp2p.start()
    this.#pruner.start()
    const transport = new Libp2pMembershipTransport({ libp2p: this.libp2p, connector: this.#connector, punish: async (p, r) => { await this.#punish(p, r) } })
    this.#transport = transport
    await transport.start()
    await this.rpc.handle(directoryFetchProtocol, async () => await this.#ownAnnouncement())
    this.#startDirectoryGossip()
    const bootstrap = (this.#init.bootstrap ?? []).map(a => {
      const id = multiaddr(a).getComponents().find(c => c.name === 'p2p')?.value ?? ''
      return { id, addrs: [a] }
    })
    const membership = new Membership({
      self: { id: this.peerId, addrs: this.multiaddrs() },
      transport,
      clock: this.#clock,
      random: seededRandom(this.#init.seed ?? hashString(this.peerId)),
      bootstrap,
      config: this.#init.membership
    })
    membership.on(e => {
      if (e.type === 'join' || e.type === 'alive') void this.#learned(e.member.id, e.member.addrs)
      // Whatever connection we still hold to a dead member may be stale (a pulled cable leaves TCP "open" for
      // minutes, and libp2p's connection monitor is off): drop it, so reconnection attempts dial afresh.
      if (e.type === 'dead') void this.#hangUp(e.member.id)
    })
    this.#membership = membership
    const seed = this.#init.seed ?? hashString(this.peerId)
    this.#sync = new DirectorySync({
      self: this.peerId,
      directory: this.directory,
      rpc: this.rpc,
      clock: this.#clock,
      random: seededRandom(seed ^ 0x5bd1e995),
      peers: () => membership.members().filter(m => m.status === 'alive').map(m => m.id),
      intervalMs: this.#init.directorySyncIntervalMs ?? 5_000,
      punish: async (p, r) => { await this.#punish(peerIdFromString(p), r) }
    })
    await this.#sync.start()
    this.#forget = new ForgetService({
      self: this.peerId,
      directory: this.directory,
      rpc: this.rpc,
      stateOf: id => this.#stateOf(id),
      members: () => membership.members().filter(m => m.status !== 'dead').map(m => m.id),
      ...(this.#init.authorizeForget !== undefined ? { authorize: this.#init.authorizeForget } : {})
    })
    await this.#forget.start()
    // A dropped connection is a hint worth a probe now rather than in a few rounds (SIGKILL closes every socket of
    // a peer at once). The verdict still comes from SWIM: ping, indirect probes, suspicion.
    this.libp2p.addEventListener('peer:disconnect', (evt) => { this.#membership?.probeNow(evt.detail.toString()) })
    await this.#announce()
    membership.start()
    this.#scheduleAnnounce()
  }

  /** Stops the node; with `leave`, tells the mesh first (others mark us dead at once instead of suspecting). */
  async stop (options: { leave?: boolean } = {}): Promise<void> {
    this.#announceTimer?.cancel()
    this.#pruner.stop()
    await this.#sync?.stop()
    await this.#forget?.stop()
    this.#membership?.stop(options)
    if (options.leave === true) await new Promise(resolve => setTimeout(resolve, 100)) // let the leave go out
    await this.#transport?.stop()
    await this.libp2p.stop()
  }

  /** Changes the announced load and re-announces at once. */
  async updateLoad (load: HostLoad): Promise<void> {
    this.#load = { ...load }
    await this.#announce()
  }

  /** Changes the announced base images (names and ids this host's warehouse holds) and re-announces at once. */
  async updateImages (images: readonly string[]): Promise<void> {
    this.#images = images.slice(0, MAX_ANNOUNCED_IMAGES)
    await this.#announce()
  }

  resolveHost (nameOrAddress: string): string | undefined { return this.directory.resolveHost(nameOrAddress) }

  conflicts (): HostConflict[] { return this.directory.conflicts() }

  /**
   * An operator's `hosts forget`, already checked by this peer (the control API's gate): drops the claimants of the
   * name here and hands the signed request to every member (node/mesh/forget.ts). Throws ForgetRefusedError.
   */
  async forget (req: ForgetWireRequest): Promise<ForgetOutcome> {
    if (this.#forget == null) throw new Error('mesh node not started')
    return await this.#forget.spread(req)
  }

  #stateOf (peerId: string): ClaimantState {
    if (peerId === this.peerId) return 'self'
    return this.#membership?.member(peerId)?.status ?? 'unknown'
  }

  /** Every host we know: directory entries joined with membership state, sorted by host name. */
  hosts (): HostView[] {
    const out = new Map<string, HostView>()
    for (const e of this.directory.entries()) {
      const a = e.announcement
      const member = a.peerId === this.peerId ? undefined : this.#membership?.member(a.peerId)
      out.set(a.peerId, {
        peerId: a.peerId,
        hostNames: a.hostNames,
        addrs: a.addrs,
        state: a.peerId === this.peerId ? 'self' : member?.status ?? 'unknown',
        capacity: a.capacity,
        load: a.load,
        driver: a.driver,
        version: a.version,
        ...(a.images !== undefined ? { images: a.images } : {}),
        ...(a.insecure === true ? { insecure: true } : {}),
        lastHeard: Math.max(e.receivedAt, member?.since ?? 0),
        ...(member != null ? { incarnation: member.incarnation } : {}),
        misbehaviour: this.misbehaviour(a.peerId)
      })
    }
    for (const m of this.#membership?.members() ?? []) {
      if (out.has(m.id)) continue
      out.set(m.id, { peerId: m.id, hostNames: [], addrs: m.addrs, state: m.status, lastHeard: m.since, incarnation: m.incarnation, misbehaviour: this.misbehaviour(m.id) })
    }
    return [...out.values()].sort((a, b) => (a.hostNames[0] ?? '~' + a.peerId) < (b.hostNames[0] ?? '~' + b.peerId) ? -1 : 1)
  }

  // ---- announcements ------------------------------------------------------------------------------------

  #announcementBody (): HostAnnouncement {
    return {
      peerId: this.peerId,
      hostNames: [this.#init.host, ...(this.#init.hostNames ?? [])],
      addrs: this.multiaddrs().slice(0, 16),
      capacity: this.#init.capacity ?? { memoryMb: 0, vcpus: 0 },
      load: this.#load,
      driver: this.#init.driver ?? 'sim',
      version: this.#init.version ?? '0.1.0',
      epoch: this.#epoch,
      seq: this.#seq,
      ...(this.#images.length > 0 ? { images: this.#images } : {}),
      ...(this.#init.insecure === true ? { insecure: true } : {})
    }
  }

  async #ownAnnouncement (): Promise<Uint8Array> {
    this.#announcement ??= await signAnnouncement(this.#key, this.#announcementBody())
    return this.#announcement
  }

  /** Signs a new version of our announcement, stores it locally and publishes it. */
  async #announce (): Promise<void> {
    this.#seq++
    this.#announcement = await signAnnouncement(this.#key, this.#announcementBody())
    await this.directory.accept(this.#announcement)
    await this.#publish()
  }

  async #publish (): Promise<void> {
    if (this.#announcement == null) return
    try {
      await this.libp2p.services.pubsub.publish(ANNOUNCEMENT_TOPIC, this.#announcement)
    } catch {
      // No subscribed peer yet: new members fetch our announcement directly when they see us.
    }
  }

  #scheduleAnnounce (): void {
    const every = this.#init.announceIntervalMs ?? 300_000
    this.#announceTimer = this.#clock.setTimeout(() => { void this.#publish().finally(() => { this.#scheduleAnnounce() }) }, every)
  }

  #startDirectoryGossip (): void {
    const pubsub = this.libp2p.services.pubsub
    // Validated before gossipsub forwards anything: a forged or malformed announcement goes no further.
    pubsub.topicValidators.set(ANNOUNCEMENT_TOPIC, async (peer, message) => {
      try {
        // A forgotten announcement goes no further either: relaying it would hand it back to peers that dropped it.
        if (await this.directory.accept(message.data, { from: peer.toString() }) === 'forgotten') return TopicValidatorResult.Ignore
        return TopicValidatorResult.Accept
      } catch (err) {
        if (err instanceof AnnouncementRejectedError) {
          this.misbehaviourLog.record(peer.toString(), err.message)
          return TopicValidatorResult.Reject
        }
        return TopicValidatorResult.Ignore
      }
    })
    pubsub.subscribe(ANNOUNCEMENT_TOPIC)
  }

  /**
   * A member seen (again): remember its addresses for every protocol, then ask for its announcement. When that
   * fails (slow start, a lost stream), a directory sync with it follows: its directory holds its announcement and
   * every other it knows, so a joiner catches up on the whole mesh in one exchange.
   */
  async #learned (peerId: string, addrs: string[]): Promise<void> {
    try {
      const multiaddrs = addrs.flatMap(a => { try { return [multiaddr(a)] } catch { return [] } })
      await this.libp2p.peerStore.merge(peerIdFromString(peerId), { multiaddrs })
    } catch {}
    if (!await this.#fetchAnnouncement(peerId)) this.#sync?.syncSoon(peerId, 1_000)
  }

  /** Fetches a member's own announcement; false when it could not be had. */
  async #fetchAnnouncement (peerId: string): Promise<boolean> {
    let bytes: Uint8Array
    try {
      bytes = await this.rpc.request(peerId, directoryFetchProtocol, {}, { timeoutMs: 5_000 })
    } catch {
      return false // the member may be gone already; if not, directory sync brings its announcement
    }
    try {
      await this.directory.accept(bytes, { from: peerId })
    } catch (err) {
      // Asked for its own announcement, it answered with one that does not verify: that is misbehaviour.
      if (err instanceof AnnouncementRejectedError) await this.#punish(peerIdFromString(peerId), err.message)
      return false
    }
    return true
  }

  /** The membership transport (its counters); exists once started. */
  get transport (): Libp2pMembershipTransport {
    if (this.#transport == null) throw new Error('mesh node not started')
    return this.#transport
  }

  /** Directory anti-entropy; exists once started. */
  get directorySync (): DirectorySync {
    if (this.#sync == null) throw new Error('mesh node not started')
    return this.#sync
  }

  async #hangUp (peerId: string): Promise<void> {
    try { await this.libp2p.hangUp(peerIdFromString(peerId)) } catch {}
  }

  async #punish (peer: PeerId, reason: string): Promise<void> {
    if (peer.equals(this.libp2p.peerId)) return
    await this.rpc.punish(peer, reason)
  }
}

/** A peer's seed for its member choices, when the caller gives none: stable per peer, different across peers. */
function hashString (s: string): number {
  let h = 2166136261
  for (let i = 0; i < s.length; i++) h = Math.imul(h ^ s.charCodeAt(i), 16777619)
  return h >>> 0
}

