import type { KeyObject } from 'node:crypto'
import { ReplayCache, generateOperatorKey } from '../../protocol/auth/index.ts'
import type { Role, TrustEntry, TrustLookup } from '../../protocol/auth/index.ts'
import { DeployPeer } from '../../node/deploy/peer.ts'
import { createPartVerifier } from '../../node/deploy/auth.ts'
import type { DeployAuth } from '../../node/deploy/auth.ts'
import { hostPolicy, setPolicy } from '../../node/deploy/policy.ts'
import { decodeDeployRequest, decodeDeployResponse, encodeDeployMessage } from '../../node/deploy/wire.ts'
import type { DeployTransport } from '../../node/deploy/types.ts'
import type { AllowedPaths } from '../../node/security/paths.ts'
import { apiRequestBody, signApiRequest } from '../../node/security/request-auth.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'
import { SimClock } from '../../simulations/scheduler/sim-clock.ts'
import { DeployNetwork } from '../../simulations/deploy/network.ts'
import { FakeEngine } from '../../simulations/deploy/fake-engine.ts'

// The in-process deploy simulation of deploy-sim.test.ts (in-memory network, fake engines, virtual clock), with
// every peer enforcing operator signatures (verifyPart) and host policy (policy), as the daemon wires them. Every
// message crosses the deploy wire codec, so the proofs are validated exactly as a real peer receives them.

/** Wall time of the simulation's epoch: the verifiers' clock is this plus the virtual clock. */
export const WALL0 = 1_790_000_000_000

export interface SecurePeer { host: string, id: string, peer: DeployPeer, engine: FakeEngine, replay: ReplayCache, logs: string[] }

export class SecureCluster {
  readonly clock = new SimClock()
  readonly net: DeployNetwork
  readonly peers: SecurePeer[] = []
  readonly trusted = new Map<string, TrustEntry>()
  readonly journal: string[] = []
  readonly trust: TrustLookup = { lookup: k => this.trusted.get(k) }

  constructor (hosts: string[], o: { allowed?: AllowedPaths, verify?: boolean } = {}) {
    this.net = new DeployNetwork(this.clock, { seed: 3 })
    const ids = new Map(hosts.map(h => [h.toLowerCase(), `peer-${h}`]))
    for (const host of hosts) {
      const id = `peer-${host}`
      const { transport, clock, listen } = this.net.attach(id)
      const engine = new FakeEngine({ host, clock, capacity: { memoryMiB: 16384, vcpus: 16 }, journal: this.journal })
      const replay = new ReplayCache()
      const logs: string[] = []
      const peer = new DeployPeer({
        self: id,
        selfHost: host,
        clock,
        transport: throughWire(transport),
        engine,
        resolveHost: (name) => ids.get(name.toLowerCase()),
        members: () => this.peers.map(p => p.id),
        log: (m, c) => { logs.push(`${m} ${JSON.stringify(c)}`) },
        ...(o.verify !== false ? { verifyPart: createPartVerifier({ trust: this.trust, replay, now: () => this.now(), isSelf: h => ids.get(h.toLowerCase()) === id }) } : {}),
        ...(o.allowed !== undefined ? { policy: hostPolicy(o.allowed), setPolicy: setPolicy(o.allowed) } : {})
      })
      listen(peer.handle)
      peer.start()
      this.peers.push({ host, id, peer, engine, replay, logs })
    }
  }

  now (): number { return WALL0 + this.clock.now() }

  get (host: string): SecurePeer {
    const p = this.peers.find(x => x.host === host)
    if (p === undefined) throw new Error(`no host ${host}`)
    return p
  }

  operator (role: Role = 'operator', pools = ['*'], trusted = true): KeyObject {
    const k = generateOperatorKey()
    if (trusted) this.trusted.set(k.publicText, { key: k.publicText, role, pools })
    return k.privateKey
  }

  /** What the CLI sends and the entry peer's API gate passes on: the request signed by `key`. */
  sign (key: KeyObject, pool: string, config: SfJsonObject, o: { time?: number, id?: string } = {}): DeployAuth {
    const req = signApiRequest(key, { op: 'deploy', pool, config, wait: false }, { time: o.time ?? Math.floor(this.now()), ...(o.id !== undefined ? { id: o.id } : {}) })
    return { envelope: req.auth, body: apiRequestBody(req) }
  }

  /** Any signed API request as the entry peer forwards it (terminate, set). */
  signed (key: KeyObject, req: { op: string, pool: string, [k: string]: unknown }, o: { time?: number } = {}): DeployAuth {
    const r = signApiRequest(key, req, { time: o.time ?? Math.floor(this.now()) })
    return { envelope: r.auth, body: apiRequestBody(r) }
  }

  async settle<T> (promise: Promise<T>, maxMs = 3_600_000): Promise<T> {
    let done = false
    const p = promise.finally(() => { done = true })
    p.catch(() => {})
    await this.clock.run({ done: () => done, until: this.clock.now() + maxMs })
    if (!done) throw new Error(`simulation: not settled after ${maxMs} virtual ms`)
    return await p
  }

  async outcome<T> (p: Promise<T>): Promise<{ ok: true, value: T } | { ok: false, error: Error }> {
    try { return { ok: true, value: await this.settle(p) } } catch (error) { return { ok: false, error: error as Error } }
  }

  /** Components running and reservations held anywhere, and components ever started anywhere. */
  leftovers (): { components: number, reservations: number, starts: number } {
    let components = 0; let reservations = 0; let starts = 0
    for (const p of this.peers) {
      components += p.engine.live().length
      reservations += p.engine.reservations
      starts += p.engine.actions.filter(a => a.startsWith('start')).length
    }
    return { components, reservations, starts }
  }

  /** Reservations ever made anywhere: zero when every owner refused before its engine was asked. */
  reserves (): number {
    return this.peers.reduce((n, p) => n + p.engine.actions.filter(a => a.startsWith('reserve')).length, 0)
  }
}

/** Every request and answer through the deploy wire codec, as between real peers. */
function throughWire (t: DeployTransport): DeployTransport {
  return {
    async request (peer, req, o) {
      const res = await t.request(peer, decodeDeployRequest(encodeDeployMessage(req)), o)
      return decodeDeployResponse(encodeDeployMessage(res))
    }
  }
}
