import { Membership } from '../../node/mesh/membership/membership.ts'
import { seededRandom } from '../../node/mesh/membership/random.ts'
import type { MemberStatus, MembershipConfig, MembershipEvent } from '../../node/mesh/membership/types.ts'
import { InMemoryNetwork } from './network.ts'
import type { NetworkOptions } from './network.ts'
import { VirtualClock } from './virtual-clock.ts'

// N membership cores on one in-memory network and one virtual clock: the seeded discrete-event simulation of the
// liveness core. Everything (member order, loss, delays) derives from the seed.

export interface SimClusterOptions extends Omit<NetworkOptions, 'seed'> {
  n: number
  seed: number
  config?: Partial<MembershipConfig>
  /** Members join one after another this far apart, each through member 0 only (default 10 ms). */
  joinSpacingMs?: number
  onEvent?: (observer: string, e: MembershipEvent, now: number) => void
}

export function memberName (i: number): string { return `m${String(i).padStart(4, '0')}` }

export class SimCluster {
  readonly clock = new VirtualClock()
  readonly network: InMemoryNetwork
  readonly members: Membership[] = []
  readonly #killed = new Set<string>()

  constructor (options: SimClusterOptions) {
    this.network = new InMemoryNetwork(this.clock, { ...options, seed: options.seed })
    const ids = Array.from({ length: options.n }, (_, i) => memberName(i))
    const spacing = options.joinSpacingMs ?? 10
    ids.forEach((id, i) => {
      const { transport, clock } = this.network.attach(id)
      const m = new Membership({
        self: { id, addrs: [id] },
        transport,
        clock,
        random: seededRandom(options.seed * 7919 + i),
        bootstrap: i === 0 ? [] : [{ id: '', addrs: [ids[0]] }],
        config: options.config
      })
      if (options.onEvent != null) m.on(e => options.onEvent?.(id, e, this.clock.now()))
      this.members.push(m)
      this.clock.setTimeout(() => { m.start() }, i * spacing)
    })
  }

  get ids (): string[] { return this.members.map(m => m.id) }

  member (id: string): Membership {
    const m = this.members.find(x => x.id === id)
    if (m == null) throw new Error(`no member ${id}`)
    return m
  }

  runFor (ms: number): void { this.clock.advance(ms) }

  /** Runs in steps of `stepMs` until `pred` holds or `maxMs` passed; returns the time it took, or undefined. */
  runUntil (pred: () => boolean, maxMs: number, stepMs = 50): number | undefined {
    const start = this.clock.now()
    while (this.clock.now() - start <= maxMs) {
      if (pred()) return this.clock.now() - start
      this.clock.advance(stepMs)
    }
    return undefined
  }

  kill (id: string): void {
    this.#killed.add(id)
    this.network.kill(id)
    this.member(id).stop()
  }

  isKilled (id: string): boolean { return this.#killed.has(id) }

  /** What `observer` believes of `subject` (unknown when it never heard of it). */
  statusOf (observer: string, subject: string): MemberStatus | 'unknown' {
    return this.member(observer).status(subject) ?? 'unknown'
  }

  /** Members still running, other than those given. */
  live (except: string[] = []): string[] {
    return this.ids.filter(id => !this.#killed.has(id) && !except.includes(id))
  }

  /** True when every live member sees every other live member alive. */
  converged (among: string[] = this.live()): boolean {
    return among.every(o => among.every(s => s === o || this.statusOf(o, s) === 'alive'))
  }

  /** True when every live member (but the subject) believes `subject` dead. */
  allSayDead (subject: string): boolean {
    return this.live([subject]).every(o => this.statusOf(o, subject) === 'dead')
  }
}
