// Scheduled deploys through the real deploy path, in memory: every host runs a real DeployPeer whose PartEngine is
// the daemon's PoolEnginePartEngine with a real HostAdmission (the judge); only the hypervisor engine below it is a
// null engine (components "run" at once) and the mesh is the in-memory twin of the deploy transport on a virtual
// clock. Hosts gossip their admission's figures every `gossipMs` (a view as stale as the mesh's). Deployers call
// deployScheduled with that view, so collisions and retries happen as they would between real peers.

import { PoolEnginePartEngine } from '../../node/deploy/engine-adapter.ts'
import { DeployPeer } from '../../node/deploy/peer.ts'
import type { DeployTimings } from '../../node/deploy/types.ts'
import type { ComponentStatus, EngineEvent, PoolEngine, PoolStatus } from '../../node/engine/types.ts'
import { HostAdmission } from '../../node/scheduler/admission.ts'
import type { MeshHostView } from '../../node/scheduler/assign.ts'
import type { Resources } from '../../node/scheduler/types.ts'
import type { SfJson, SfJsonObject } from '../../node/sf/sfjson.ts'
import { isComponent, isEagerComponent } from '../../node/sf/sfjson.ts'
import { DeployNetwork } from '../deploy/network.ts'
import { SimClock } from './sim-clock.ts'

/** The engine below the adapter, for the simulation: deploys instantly, keeps only what status needs. */
export class NullEngine implements PoolEngine {
  readonly host: string
  readonly pools = new Map<string, { config: SfJsonObject, components: ComponentStatus[] }>()
  constructor (host: string) { this.host = host }

  async deploy (pool: string, config: SfJsonObject): Promise<PoolStatus> {
    const components: ComponentStatus[] = []
    const walk = (cd: SfJsonObject, path: string): void => {
      const cls = typeof cd.sfClass === 'string' ? cd.sfClass : ''
      components.push({ path, type: cls.slice(cls.lastIndexOf('.') + 1).replace(/Impl$/, ''), host: this.host, state: 'running' })
      for (const [k, v] of Object.entries(cd)) if (isEagerComponent(v) && v.$data !== true) walk(v, path === '' ? k : `${path}:${k}`)
    }
    walk(config, '')
    this.pools.set(pool, { config, components })
    return { pool, state: 'running', components }
  }

  async terminate (pool: string): Promise<PoolStatus> {
    const p = this.pools.get(pool)
    this.pools.delete(pool)
    return { pool, state: 'terminated', components: (p?.components ?? []).map(c => ({ ...c, state: 'terminated' })) }
  }

  status (pool?: string): PoolStatus[] {
    return [...this.pools].filter(([n]) => pool === undefined || n === pool).map(([n, p]) => ({ pool: n, state: 'running', components: p.components }))
  }

  /** The description's values (no LAZY resolution: enough for queries and tests). */
  get (pool: string, path: string, attr?: string): SfJson {
    let node: SfJson | undefined = this.pools.get(pool)?.config
    for (const p of path === '' ? [] : path.split(':')) node = node !== undefined && isComponent(node) ? node[p] : undefined
    if (node === undefined || !isComponent(node)) throw new Error(`${pool}:${path}: no such component`)
    return attr === undefined ? node : node[attr] ?? null
  }
  set (): void {}
  logs (): string[] { return [] }
  async recover (): Promise<void> {}
  onEvent (_l: (e: EngineEvent) => void): () => void { return () => {} }
  async start (): Promise<void> {}
  async stop (): Promise<void> {}
}

export interface DeployMeshHost {
  name: string
  id: string
  peer: DeployPeer
  admission: HostAdmission
  engine: NullEngine
}

export interface DeployMeshOptions {
  hosts: Array<{ name: string, capacity: Resources }>
  seed?: number
  /** Period of every host's announcement of its admission figures. Default 1000 ms. */
  gossipMs?: number
  minDelayMs?: number
  jitterMs?: number
  timings?: Partial<DeployTimings>
}

export class DeployMesh {
  readonly clock = new SimClock()
  readonly net: DeployNetwork
  readonly hosts: DeployMeshHost[] = []
  /** What the mesh believes of each host: its last announcement. */
  readonly #announced = new Map<string, { memoryMb: number, vcpus: number, domains: number }>()
  #heardAt = 0

  constructor (o: DeployMeshOptions) {
    this.net = new DeployNetwork(this.clock, { seed: o.seed ?? 1, minDelayMs: o.minDelayMs ?? 0.2, jitterMs: o.jitterMs ?? 0.5 })
    const ids = new Map(o.hosts.map(h => [h.name.toLowerCase(), `peer-${h.name}`]))
    for (const h of o.hosts) {
      const id = `peer-${h.name}`
      const { transport, clock, listen } = this.net.attach(id)
      const admission = new HostAdmission({ host: h.name, capacity: h.capacity, clock })
      const engine = new NullEngine(h.name)
      const peer = new DeployPeer({
        self: id,
        selfHost: h.name,
        clock,
        transport,
        engine: new PoolEnginePartEngine({ engine, admission }),
        resolveHost: (n) => ids.get(n.toLowerCase()),
        members: () => this.hosts.map(x => x.id),
        timings: { requestTimeoutMs: 200, attempts: 4, longPollMs: 100, ...o.timings }
      })
      listen(peer.handle)
      peer.start()
      this.hosts.push({ name: h.name, id, peer, admission, engine })
    }
    this.#gossip()
    const every = o.gossipMs ?? 1000
    const tick = (): void => { this.#gossip(); this.clock.setTimeout(tick, every) }
    this.clock.setTimeout(tick, every)
  }

  /** Every host announces now (outside the period): tests use it to make news arrive at a chosen moment. */
  announce (): void { this.#gossip() }

  #gossip (): void {
    this.#heardAt = this.clock.now()
    for (const h of this.hosts) {
      const free = h.admission.free()
      this.#announced.set(h.name, { memoryMb: h.admission.capacity.memoryMiB - free.memoryMiB, vcpus: h.admission.capacity.vcpus - free.vcpus, domains: h.admission.entries().length })
    }
  }

  /** The view a mesh node's hosts() would give every peer: the last announcements, everyone alive. */
  view (): MeshHostView[] {
    return this.hosts.map(h => ({
      peerId: h.id,
      hostNames: [h.name],
      addrs: [],
      state: 'alive' as const,
      capacity: { memoryMb: h.admission.capacity.memoryMiB, vcpus: h.admission.capacity.vcpus },
      load: { ...(this.#announced.get(h.name) as { memoryMb: number, vcpus: number, domains: number }) },
      driver: 'sim',
      lastHeard: this.#heardAt,
      misbehaviour: 0
    }))
  }

  get (name: string): DeployMeshHost {
    const h = this.hosts.find(x => x.name === name)
    if (h === undefined) throw new Error(`no host ${name}`)
    return h
  }

  /** Runs the virtual clock until every promise has settled. */
  async settle<T> (promises: Array<Promise<T>>, maxMs = 3_600_000): Promise<Array<PromiseSettledResult<T>>> {
    let left = promises.length
    const all = Promise.allSettled(promises.map(async p => await p.finally(() => { left-- })))
    await this.clock.run({ done: () => left === 0, until: this.clock.now() + maxMs })
    if (left > 0) throw new Error(`simulation: ${left} deploys not settled after ${maxMs} virtual ms`)
    return await all
  }

  stop (): void { for (const h of this.hosts) h.peer.stop() }
}
