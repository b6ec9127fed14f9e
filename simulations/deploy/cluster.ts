import { DeployPeer } from '../../node/deploy/peer.ts'
import type { DeployTimings, OrphanPolicy } from '../../node/deploy/types.ts'
import { SimClock } from '../scheduler/sim-clock.ts'
import { DeployNetwork } from './network.ts'
import type { DeployNetworkOptions } from './network.ts'
import { FakeEngine } from './fake-engine.ts'
import type { FakeEngineKnobs, Resources } from './fake-engine.ts'

// N deploy peers with fake engines on one virtual clock over one in-memory network. Host names resolve through a
// directory built from the hosts given (what the mesh's host directory does from announcements). Membership is
// simplified: a killed peer leaves everyone's member list `detectionMs` after it died (the failure detector's job,
// simulated apart in simulations/membership).

export interface SimHostSpec { name: string, capacity?: Resources, knobs?: FakeEngineKnobs }

export interface DeployClusterOptions extends Partial<DeployNetworkOptions> {
  hosts: SimHostSpec[]
  timings?: Partial<DeployTimings>
  detectionMs?: number
  orphanPolicy?: OrphanPolicy
  /** Collects every peer's log lines (default: dropped). */
  log?: boolean
}

export interface SimPeer {
  host: string
  id: string
  peer: DeployPeer
  engine: FakeEngine
}

export class DeployCluster {
  readonly clock = new SimClock()
  readonly net: DeployNetwork
  readonly peers: SimPeer[] = []
  readonly logs: string[] = []
  /** Every engine action, in order, prefixed by its host. */
  readonly journal: string[] = []
  readonly #dead = new Set<string>()
  readonly #detectionMs: number

  constructor (o: DeployClusterOptions) {
    this.net = new DeployNetwork(this.clock, { seed: o.seed ?? 1, ...o })
    this.#detectionMs = o.detectionMs ?? 3000
    const ids = new Map(o.hosts.map(h => [h.name.toLowerCase(), `peer-${h.name}`]))
    for (const h of o.hosts) {
      const id = `peer-${h.name}`
      const { transport, clock, listen } = this.net.attach(id)
      const engine = new FakeEngine({ host: h.name, clock, capacity: h.capacity ?? { memoryMiB: 16384, vcpus: 16 }, journal: this.journal, ...(h.knobs !== undefined ? { knobs: h.knobs } : {}) })
      const peer = new DeployPeer({
        self: id,
        selfHost: h.name,
        clock,
        transport,
        engine,
        resolveHost: (name) => ids.get(name.toLowerCase()),
        members: () => this.peers.map(p => p.id).filter(p => !this.#dead.has(p)),
        isDead: (p) => this.#dead.has(p),
        ...(o.timings !== undefined ? { timings: o.timings } : {}),
        ...(o.orphanPolicy !== undefined ? { orphanPolicy: o.orphanPolicy } : {}),
        log: o.log === true ? (m, c) => { this.logs.push(`${this.clock.now().toFixed(1)} ${h.name} ${m} ${JSON.stringify(c)}`) } : () => {}
      })
      listen(peer.handle)
      peer.start()
      this.peers.push({ host: h.name, id, peer, engine })
    }
  }

  get (host: string): SimPeer {
    const p = this.peers.find(x => x.host === host)
    if (p === undefined) throw new Error(`no host ${host}`)
    return p
  }

  /** SIGKILL: the peer stops answering at once; the mesh declares it dead after detectionMs. */
  kill (host: string): void {
    const p = this.get(host)
    this.net.kill(p.id)
    p.peer.stop()
    this.clock.setTimeout(() => this.#dead.add(p.id), this.#detectionMs)
  }

  /** Runs the simulation until `promise` settles (or nothing is left to run), and returns its outcome. */
  async settle<T> (promise: Promise<T>, maxMs = 3_600_000): Promise<T> {
    let done = false
    const p = promise.finally(() => { done = true })
    p.catch(() => {})
    await this.clock.run({ done: () => done, until: this.clock.now() + maxMs })
    if (!done) throw new Error(`simulation: not settled after ${maxMs} virtual ms`)
    return await p
  }

  /** Runs the simulation for `ms` virtual ms. */
  async runFor (ms: number): Promise<void> {
    await this.clock.run({ until: this.clock.now() + ms })
  }

  /** Components left running anywhere, and reservations held anywhere. */
  leftovers (pool?: string): { components: number, reservations: number, claims: number } {
    let components = 0; let reservations = 0; let claims = 0
    for (const p of this.peers) {
      components += p.engine.live(pool).length
      reservations += p.engine.reservations
      claims += p.peer.claims.size
    }
    return { components, reservations, claims }
  }
}
