import { MAX_MEMBERS_PER_SYNC, MAX_UPDATES_PER_MESSAGE } from '../../../protocol/limits.ts'
import type { MemberUpdate, MembershipMessage, PingReq, PushPull } from '../../../protocol/membership.ts'
import type { Clock, Timer } from '../../seams/clock.ts'
import { Awareness } from './awareness.ts'
import { BroadcastQueue, retransmitLimit } from './broadcast-queue.ts'
import { sample, shuffle } from './random.ts'
import type { Random } from './random.ts'
import { Suspicion, suspicionTimeout } from './suspicion.ts'
import { DEFAULT_MEMBERSHIP_CONFIG } from './types.ts'
import type { MemberInfo, MemberRef, MembershipConfig, MembershipEvent, MembershipInit, MembershipTransport } from './types.ts'

// SWIM with Lifeguard's refinements, as a pure protocol core: no I/O but the transport seam, no time but the
// clock seam, no randomness but the seeded source. The same object runs in the daemon and in the simulator.

interface Member extends MemberInfo {
  suspicion?: Suspicion
}

interface PendingIndirect { target: string, acked: boolean, nacks: number }

export class Membership {
  readonly #self: MemberRef
  readonly #transport: MembershipTransport
  readonly #clock: Clock
  readonly #random: Random
  readonly #config: MembershipConfig
  readonly #bootstrap: MemberRef[]
  readonly #members = new Map<string, Member>()
  readonly #queue = new BroadcastQueue()
  readonly #awareness: Awareness
  readonly #pending = new Map<number, PendingIndirect>()
  readonly #listeners: Array<(e: MembershipEvent) => void> = []
  readonly #timers = new Set<Timer>()
  #incarnation = 0
  #deadCount = 0
  readonly #sorted: Member[] = []
  #seq = 0
  #probeOrder: string[] = []
  #probeIndex = 0
  #running = false
  /** Set once a state sync answered us: until then the join is retried quickly (a datagram may be lost). */
  #joined = false
  /** Members with an out-of-band probe under way (probeNow), so a burst of hints costs one probe. */
  readonly #urgent = new Set<string>()
  #leaving = false

  constructor (init: MembershipInit) {
    this.#self = { id: init.self.id, addrs: [...init.self.addrs] }
    this.#transport = init.transport
    this.#clock = init.clock
    this.#random = init.random
    this.#config = { ...DEFAULT_MEMBERSHIP_CONFIG, ...init.config }
    this.#config.maxUpdatesPerMessage = Math.min(this.#config.maxUpdatesPerMessage, MAX_UPDATES_PER_MESSAGE)
    this.#bootstrap = (init.bootstrap ?? []).filter(b => b.id !== this.#self.id)
    this.#awareness = new Awareness(this.#config.awarenessMaxMultiplier)
  }

  get id (): string { return this.#self.id }
  get incarnation (): number { return this.#incarnation }
  /** Lifeguard's local health score: 0 when healthy. */
  get health (): number { return this.#awareness.score }
  get config (): Readonly<MembershipConfig> { return this.#config }

  /** Members other than ourselves, sorted by id, as copies. */
  members (): MemberInfo[] {
    return this.#sorted.map(({ suspicion: _s, ...m }) => ({ ...m, addrs: [...m.addrs] }))
  }

  member (id: string): MemberInfo | undefined {
    const m = this.#members.get(id)
    if (m == null) return undefined
    const { suspicion: _s, ...info } = m
    return { ...info, addrs: [...info.addrs] }
  }

  /** What we believe of `id`, without copying anything (cheap enough to poll for every pair in a simulation). */
  status (id: string): MemberInfo['status'] | undefined {
    return this.#members.get(id)?.status
  }

  /** Count of members not dead, ourselves included: the N of every timeout formula. */
  get aliveCount (): number {
    return 1 + this.#members.size - this.#deadCount
  }

  on (listener: (e: MembershipEvent) => void): () => void {
    this.#listeners.push(listener)
    return () => { const i = this.#listeners.indexOf(listener); if (i >= 0) this.#listeners.splice(i, 1) }
  }

  start (): void {
    if (this.#running) return
    this.#running = true
    this.#leaving = false
    this.#transport.onMessage((from, msg) => { this.receive(from, msg) })
    this.#joined = this.#bootstrap.length === 0
    this.#join()
    this.#every(() => 2 * this.#config.probeIntervalMs, () => { if (!this.#joined) this.#join() })
    this.#every(() => this.#config.gossipIntervalMs, () => { this.#gossip() })
    this.#every(() => this.#pushPullInterval(), () => { this.#periodicPushPull() })
    this.#every(() => this.#config.reconnectIntervalMs * this.#scale(), () => { this.#reconnect() })
    this.#scheduleProbe(this.#random.int(this.#config.probeIntervalMs) + 1)
  }

  /** Stops all timers. With `leave`, first tells a few members we are leaving (they mark us dead at once). */
  stop (options: { leave?: boolean } = {}): void {
    if (!this.#running) return
    if (options.leave === true) {
      this.#leaving = true
      const update: MemberUpdate = { status: 'dead', id: this.#self.id, inc: this.#incarnation, from: this.#self.id }
      for (const m of this.#gossipTargets(this.#config.gossipNodes * 2)) this.#transport.send(m, { type: 'gossip', updates: [update] })
    }
    this.#running = false
    for (const t of this.#timers) t.cancel()
    this.#timers.clear()
    for (const m of this.#members.values()) m.suspicion?.cancel()
    this.#pending.clear()
  }

  /** Entry point of the transport: one validated message from an authenticated sender. */
  receive (from: string, msg: MembershipMessage): void {
    if (!this.#running) return
    switch (msg.type) {
      case 'ping-req': this.#onPingReq(from, msg); break
      case 'ind-ack': this.#onIndirectAck(msg.seq, msg.ok); this.#apply(msg.updates); break
      case 'gossip': this.#apply(msg.updates); break
      case 'push-pull': this.#onPushPull(from, msg); break
    }
  }

  // ---- timers -------------------------------------------------------------------------------------------

  #after (ms: number, fn: () => void): void {
    const timer = this.#clock.setTimeout(() => { this.#timers.delete(timer); if (this.#running) fn() }, ms)
    this.#timers.add(timer)
  }

  #every (interval: () => number, fn: () => void): void {
    const tick = (): void => { fn(); this.#after(interval(), tick) }
    this.#after(interval(), tick)
  }

  #pushPullInterval (): number {
    // memberlist's pushPullScale: beyond 32 members, one more interval per doubling, so sync traffic stays flat.
    return this.#config.pushPullIntervalMs * this.#scale()
  }

  #scale (): number {
    const n = this.aliveCount
    return n <= 32 ? 1 : Math.ceil(Math.log2(n) - Math.log2(32)) + 1
  }

  // ---- probing ------------------------------------------------------------------------------------------

  #scheduleProbe (ms: number): void {
    this.#after(ms, () => { this.#probeRound() })
  }

  #nextProbeTarget (): Member | undefined {
    for (let tries = 0; tries <= this.#members.size; tries++) {
      if (this.#probeIndex >= this.#probeOrder.length) {
        // A fresh random order each round: every member is probed once per round, in an order no one can predict.
        this.#probeOrder = shuffle([...this.#members.keys()].sort(), this.#random)
        this.#probeIndex = 0
        if (this.#probeOrder.length === 0) return undefined
      }
      const m = this.#members.get(this.#probeOrder[this.#probeIndex++])
      if (m != null && m.status !== 'dead') return m
    }
    return undefined
  }

  #probeRound (): void {
    const start = this.#clock.now()
    const interval = this.#awareness.scale(this.#config.probeIntervalMs)
    const next = (): void => { this.#scheduleProbe(Math.max(1, start + interval - this.#clock.now())) }
    const target = this.#nextProbeTarget()
    if (target == null) { next(); return }
    const timeout = this.#awareness.scale(this.#config.probeTimeoutMs)
    const inc = target.incarnation // a refutation arriving meanwhile must not be overruled by this round
    if (target.status === 'suspect') {
      // Buddy system again: a suspect we probe hears of its suspicion even if the gossip about it was lost.
      this.#transport.send(target, { type: 'gossip', updates: [{ status: 'suspect', id: target.id, inc: target.incarnation, from: this.#self.id }] })
    }
    this.#transport.probe(target, timeout, (ok) => {
      if (!this.#running) return
      if (ok) { this.#awareness.applyDelta(-1); next(); return }
      this.#indirectProbe(target, inc, start, interval, next)
    })
  }

  /**
   * Probes `id` at once, outside the round-robin: a hint from the transport (its connection to the member just
   * dropped). Only the timing changes: failure still goes through indirect probes and suspicion, so a false hint
   * costs one ping.
   */
  probeNow (id: string): void {
    const m = this.#members.get(id)
    if (!this.#running || m == null || m.status !== 'alive' || this.#urgent.has(id)) return
    this.#urgent.add(id)
    const start = this.#clock.now()
    const inc = m.incarnation
    const done = (): void => { this.#urgent.delete(id) }
    this.#transport.probe(m, this.#awareness.scale(this.#config.probeTimeoutMs), (ok) => {
      if (!this.#running || ok) { done(); return }
      this.#indirectProbe(m, inc, start, this.#awareness.scale(this.#config.probeIntervalMs), done)
    })
  }

  #indirectProbe (target: Member, inc: number, start: number, interval: number, next: () => void): void {
    const relays = this.#pick(this.#config.indirectChecks, m => m.status !== 'dead' && m.id !== target.id)
    const seq = ++this.#seq
    const pending: PendingIndirect = { target: target.id, acked: false, nacks: 0 }
    this.#pending.set(seq, pending)
    for (const relay of relays) {
      const msg: PingReq = { type: 'ping-req', seq, target: target.id, targetAddrs: target.addrs, updates: this.#takeUpdates() }
      this.#transport.send(relay, msg)
    }
    // Wait until the end of the probe interval (at least one more probe timeout) for any relay to answer.
    const wait = Math.max(start + interval - this.#clock.now(), this.#awareness.scale(this.#config.probeTimeoutMs))
    this.#after(wait, () => {
      this.#pending.delete(seq)
      // Lifeguard: missing nacks mean our own messages are not getting through, so we are the unhealthy one.
      const missedNacks = pending.acked ? 0 : relays.length - pending.nacks
      this.#awareness.applyDelta(pending.acked ? -1 : (relays.length === 0 ? 1 : missedNacks))
      if (!pending.acked) {
        const current = this.#members.get(target.id)
        if (current != null && current.status !== 'dead' && current.incarnation === inc) {
          // Also when already suspect: our failed probe is an independent confirmation that shortens the timeout.
          const update: MemberUpdate = { status: 'suspect', id: target.id, inc, from: this.#self.id }
          this.#suspect(update)
          // Lifeguard's buddy system: tell the suspect itself at once, so a live one refutes within a round trip.
          this.#transport.send(target, { type: 'gossip', updates: [update] })
        }
      }
      next()
    })
  }

  #onPingReq (from: string, msg: PingReq): void {
    this.#apply(msg.updates)
    const requester = this.#refOf(from) ?? { id: from, addrs: [] }
    // Lifeguard: answer (nack) at 80% of the probe timeout, so the requester hears from us before its deadline
    // and can tell a dead target from its own lost messages.
    this.#transport.probe({ id: msg.target, addrs: msg.targetAddrs }, Math.floor(0.8 * this.#config.probeTimeoutMs), (ok) => {
      if (!this.#running) return
      this.#transport.send(requester, { type: 'ind-ack', seq: msg.seq, target: msg.target, ok, updates: this.#takeUpdates() })
    })
  }

  #onIndirectAck (seq: number, ok: boolean): void {
    const pending = this.#pending.get(seq)
    if (pending == null) return
    if (ok) pending.acked = true
    else pending.nacks++
  }

  // ---- gossip and state sync ----------------------------------------------------------------------------

  #takeUpdates (): MemberUpdate[] {
    return this.#queue.take(this.#config.maxUpdatesPerMessage, retransmitLimit(this.#config.retransmitMult, this.aliveCount))
  }

  #gossipTargets (k: number): Member[] {
    const now = this.#clock.now()
    return this.#pick(k, m => m.status !== 'dead' || (m.left !== true && now - m.since < this.#config.gossipToTheDeadMs))
  }

  #gossip (): void {
    if (this.#queue.size === 0) return
    for (const m of this.#gossipTargets(this.#config.gossipNodes)) {
      const updates = this.#takeUpdates()
      if (updates.length === 0) break
      this.#transport.send(m, { type: 'gossip', updates })
    }
  }

  #state (): MemberUpdate[] {
    const self: MemberUpdate = { status: 'alive', id: this.#self.id, inc: this.#incarnation, addrs: this.#self.addrs }
    let members = this.#sorted
    if (members.length >= MAX_MEMBERS_PER_SYNC) {
      // Over the wire bound: send a window starting at a random place, so successive syncs cover everyone.
      const start = this.#random.int(members.length)
      members = [...members.slice(start), ...members.slice(0, start)].slice(0, MAX_MEMBERS_PER_SYNC - 1)
    }
    return [self, ...members.map(m => ({ status: m.status, id: m.id, inc: m.incarnation, addrs: m.addrs }))]
  }

  #pushPull (to: MemberRef, join: boolean): void {
    const msg: PushPull = { type: 'push-pull', join, reply: false, members: this.#state() }
    this.#transport.send(to, msg)
  }

  #onPushPull (from: string, msg: PushPull): void {
    if (msg.reply) this.#joined = true
    this.#merge(msg.members)
    const requester = this.#refOf(from) ?? { id: from, addrs: [] }
    if (!msg.reply) this.#transport.send(requester, { type: 'push-pull', join: false, reply: true, members: this.#state() })
  }

  /** Merges a remote full state. A remote "dead" becomes a suspicion here, so a healed partition re-merges. */
  #merge (updates: MemberUpdate[]): void {
    for (const u of updates) {
      if (u.status === 'dead' && u.id !== this.#self.id) this.#suspect({ status: 'suspect', id: u.id, inc: u.inc })
      else this.#applyOne(u)
    }
  }

  #join (): void {
    for (const b of this.#bootstrap) this.#pushPull(b, true)
  }

  #periodicPushPull (): void {
    const [m] = this.#pick(1, m => m.status !== 'dead')
    if (m != null) this.#pushPull(m, false)
  }

  /** Split halves find each other: try one dead member, and the bootstrap list while we know nobody alive. */
  #reconnect (): void {
    const dead = [...this.#members.values()].filter(m => m.status === 'dead' && !m.left).sort((a, b) => a.id < b.id ? -1 : 1)
    const [d] = sample(dead, 1, this.#random)
    if (d != null) this.#pushPull(d, false)
    if (this.aliveCount === 1) this.#join()
  }

  // ---- state changes ------------------------------------------------------------------------------------

  #apply (updates: MemberUpdate[]): void {
    for (const u of updates) this.#applyOne(u)
  }

  #applyOne (u: MemberUpdate): void {
    switch (u.status) {
      case 'alive': this.#alive(u); break
      case 'suspect': this.#suspect(u); break
      case 'dead': this.#dead(u); break
    }
  }

  #alive (u: MemberUpdate): void {
    if (u.id === this.#self.id) {
      if (u.inc > this.#incarnation) this.#refute(u.inc)
      return
    }
    const m = this.#members.get(u.id)
    if (m == null) {
      const member: Member = { id: u.id, addrs: u.addrs ?? [], status: 'alive', incarnation: u.inc, since: this.#clock.now() }
      this.#members.set(u.id, member)
      this.#insertSorted(member)
      // New members go to a random place of the current probe round, not always last.
      this.#probeOrder.splice(this.#probeIndex + this.#random.int(this.#probeOrder.length - this.#probeIndex + 1), 0, u.id)
      this.#queue.push({ status: 'alive', id: u.id, inc: u.inc, addrs: member.addrs })
      this.#emit({ type: 'join', member: this.member(u.id) as MemberInfo })
      return
    }
    if (u.inc <= m.incarnation) return
    const wasAlive = m.status === 'alive'
    m.suspicion?.cancel()
    delete m.suspicion
    m.incarnation = u.inc
    if (u.addrs != null && u.addrs.length > 0) m.addrs = u.addrs
    this.#queue.push({ status: 'alive', id: u.id, inc: u.inc, addrs: m.addrs })
    if (!wasAlive) {
      if (m.status === 'dead') this.#deadCount--
      m.status = 'alive'
      m.since = this.#clock.now()
      delete m.left
      this.#emit({ type: 'alive', member: this.member(u.id) as MemberInfo })
    }
  }

  #suspect (u: MemberUpdate): void {
    // An update with no accuser (from a state sync) may start a suspicion but never confirms one.
    const from = u.from
    if (u.id === this.#self.id) {
      this.#accused(u)
      return
    }
    const m = this.#members.get(u.id)
    if (m == null || u.inc < m.incarnation || m.status === 'dead') return
    if (m.status === 'suspect') {
      if (from != null && m.suspicion?.confirm(from) === true) this.#queue.push({ status: 'suspect', id: u.id, inc: m.incarnation, from })
      return
    }
    m.status = 'suspect'
    m.incarnation = u.inc
    m.since = this.#clock.now()
    this.#queue.push({ status: 'suspect', id: u.id, inc: u.inc, from: from ?? this.#self.id })
    const n = this.aliveCount
    const k = n - 2 < this.#config.suspicionMult - 2 ? 0 : this.#config.suspicionMult - 2
    const min = suspicionTimeout(this.#config.suspicionMult, n, this.#config.probeIntervalMs)
    const max = this.#config.suspicionMaxTimeoutMult * min
    const inc = u.inc
    m.suspicion = new Suspicion(this.#clock, from ?? '?', k, min, max, () => {
      if (!this.#running) return
      const cur = this.#members.get(u.id)
      if (cur != null && cur.status === 'suspect' && cur.incarnation === inc) this.#dead({ status: 'dead', id: u.id, inc, from: this.#self.id })
    })
    this.#askSuspect(u.id, inc, Math.floor(min / 2))
    this.#emit({ type: 'suspect', member: this.member(u.id) as MemberInfo })
  }

  /**
   * While a suspicion stays unrefuted, ask the suspect directly every `every` ms: a live suspect answers with its
   * alive (refuting if need be), so a member that missed the gossip wave of a refutation does not kill it.
   */
  #askSuspect (id: string, inc: number, every: number): void {
    this.#after(every, () => {
      const m = this.#members.get(id)
      if (m == null || m.status !== 'suspect' || m.incarnation !== inc) return
      this.#transport.send(m, { type: 'gossip', updates: [{ status: 'suspect', id, inc, from: this.#self.id }] })
      this.#askSuspect(id, inc, every)
    })
  }

  #dead (u: MemberUpdate): void {
    if (u.id === this.#self.id) {
      this.#accused(u)
      return
    }
    const m = this.#members.get(u.id)
    if (m == null || u.inc < m.incarnation || m.status === 'dead') return
    m.suspicion?.cancel()
    delete m.suspicion
    m.status = 'dead'
    this.#deadCount++
    m.incarnation = u.inc
    m.since = this.#clock.now()
    if (u.from === u.id) m.left = true
    this.#queue.push({ status: 'dead', id: u.id, inc: u.inc, from: u.from ?? this.#self.id })
    this.#emit({ type: 'dead', member: this.member(u.id) as MemberInfo })
  }

  /**
   * Someone thinks we are suspect or dead. At our current incarnation: refute with a higher one (and count it
   * against our own health, as Lifeguard does). At an older one: our refutation exists but has not reached the
   * accuser. Either way the accuser is told directly, not only by gossip, so one lost wave cannot kill us.
   */
  #accused (u: MemberUpdate): void {
    if (this.#leaving) return
    if (u.inc >= this.#incarnation) {
      if (u.status === 'suspect') this.#awareness.applyDelta(1)
      this.#refute(u.inc)
    }
    if (u.from != null && u.from !== this.#self.id) {
      const accuser = this.#refOf(u.from) ?? { id: u.from, addrs: [] }
      this.#transport.send(accuser, { type: 'gossip', updates: [{ status: 'alive', id: this.#self.id, inc: this.#incarnation, addrs: this.#self.addrs }] })
    }
  }

  /** Announces ourselves alive with an incarnation above `inc`. */
  #refute (inc: number): void {
    this.#incarnation = Math.max(this.#incarnation, inc) + 1
    this.#queue.push({ status: 'alive', id: this.#self.id, inc: this.#incarnation, addrs: this.#self.addrs })
    this.#emit({ type: 'refute', incarnation: this.#incarnation })
  }

  // ---- helpers ------------------------------------------------------------------------------------------

  /** Members sorted by id, so random choices depend on the seed only. Members are never removed. */
  #all (): Member[] {
    return this.#sorted
  }

  #insertSorted (m: Member): void {
    const a = this.#sorted
    let lo = 0; let hi = a.length
    while (lo < hi) { const mid = (lo + hi) >> 1; if (a[mid].id < m.id) lo = mid + 1; else hi = mid }
    a.splice(lo, 0, m)
  }

  /** Up to `k` distinct random members satisfying `pred`; rejection sampling keeps it O(k) in large meshes. */
  #pick (k: number, pred: (m: Member) => boolean): Member[] {
    const all = this.#all()
    if (all.length <= 64) return sample(all.filter(pred), k, this.#random)
    const chosen = new Set<Member>()
    for (let tries = 0; tries < 8 * k + 16 && chosen.size < k; tries++) {
      const m = all[this.#random.int(all.length)]
      if (pred(m)) chosen.add(m)
    }
    if (chosen.size < k) return sample(all.filter(pred), k, this.#random)
    return [...chosen]
  }

  #refOf (id: string): MemberRef | undefined {
    const m = this.#members.get(id)
    return m == null ? undefined : { id: m.id, addrs: m.addrs }
  }

  #emit (e: MembershipEvent): void {
    for (const l of [...this.#listeners]) l(e)
  }
}
