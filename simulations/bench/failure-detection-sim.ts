// Failure detection of the membership core in the seeded discrete-event simulation, with message loss.
// Prints, for each N: detection time p50/p99 after a member dies, false positives per peer-hour, messages and
// bytes per member per second. Deterministic from the seed.
//
//   npx node simulations/bench/failure-detection-sim.ts [--seed 1] [--loss 0.1] [--sizes 50,200,1000] [--peer-hours 100]

import { parseArgs } from 'node:util'
import { memberName, SimCluster } from '../membership/cluster.ts'

const { values } = parseArgs({
  options: {
    seed: { type: 'string', default: '1' },
    loss: { type: 'string', default: '0.1' },
    sizes: { type: 'string', default: '50,200,1000' },
    'peer-hours': { type: 'string', default: '100' },
    kills: { type: 'string', default: '20' }
  }
})
const seed = Number(values.seed)
const loss = Number(values.loss)
const peerHours = Number(values['peer-hours'])
const kills = Number(values.kills)

function percentile (sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN
  return sorted[Math.min(sorted.length - 1, Math.ceil(p / 100 * sorted.length) - 1)]
}

console.log(`failure detection, simulated: loss ${loss * 100}%, jitter 1-21 ms, seed ${seed}, ${peerHours} peer-hours of steady state per N`)
console.log('N      converge   detect p50  detect p99  max      false+/peer-hour  msgs/member/s  kbit/s/member  wall')
for (const n of values.sizes.split(',').map(Number)) {
  const wall = performance.now()
  const falsePositives: string[] = []
  const deadSeen = new Map<string, Set<string>>()
  const killedAt = new Map<string, number>()
  const detected = new Map<string, number>()
  let cluster: SimCluster | undefined
  const c = new SimCluster({
    n,
    seed,
    loss,
    jitterMs: 20,
    joinSpacingMs: 5,
    onEvent: (observer, e, now) => {
      if (e.type !== 'dead') return
      const subject = e.member.id
      if (!killedAt.has(subject)) { falsePositives.push(`${now} ${observer} says ${subject} dead`); return }
      const seen = deadSeen.get(subject) ?? new Set<string>()
      seen.add(observer)
      deadSeen.set(subject, seen)
      if (cluster != null && !detected.has(subject) && cluster.live([subject]).every(o => seen.has(o))) {
        detected.set(subject, now - (killedAt.get(subject) ?? 0))
      }
    }
  })
  cluster = c
  // Converged: every member has heard of every other (with 10% loss some false suspicion is always under way).
  const convergeMs = c.runUntil(() => c.ids.every(o => c.ids.every(s => s === o || c.statusOf(o, s) !== 'unknown')), 600_000, 1_000)
  c.runFor(60_000) // let the join flood settle before measuring steady traffic
  // Steady state: count false positives and traffic over peerHours / N hours.
  const steadyMs = Math.ceil(peerHours * 3_600_000 / n)
  const before = c.ids.map(id => c.network.stats(id))
  c.runFor(steadyMs)
  const after = c.ids.map(id => c.network.stats(id))
  const msgs = after.reduce((s, a, i) => s + a.sentMessages - before[i].sentMessages, 0) / n / (steadyMs / 1000)
  const kbits = after.reduce((s, a, i) => s + a.sentBytes - before[i].sentBytes, 0) * 8 / 1000 / n / (steadyMs / 1000)
  // Detection: kill members one at a time, each after the previous was detected and things settled.
  const times: number[] = []
  for (let k = 0; k < kills; k++) {
    const victim = memberName(1 + Math.floor((k * 7919) % (n - 1)))
    if (c.isKilled(victim)) continue
    killedAt.set(victim, c.clock.now())
    c.kill(victim)
    c.runUntil(() => detected.has(victim), 120_000, 100)
    const t = detected.get(victim)
    if (t != null) times.push(t)
    c.runFor(3_000)
  }
  times.sort((a, b) => a - b)
  const fpRate = falsePositives.length / peerHours
  console.log(
    `${String(n).padEnd(6)} ${(convergeMs == null ? 'never' : `${(convergeMs / 1000).toFixed(1)} s`).padEnd(10)} ` +
    `${(percentile(times, 50) / 1000).toFixed(2)} s      ${(percentile(times, 99) / 1000).toFixed(2)} s      ` +
    `${(times[times.length - 1] / 1000).toFixed(2)} s   ${fpRate.toFixed(3)} (${falsePositives.length} in ${peerHours} ph)`.padEnd(20) +
    `   ${msgs.toFixed(2).padEnd(14)} ${kbits.toFixed(2).padEnd(14)} ${((performance.now() - wall) / 1000).toFixed(0)} s` +
    (times.length < kills ? `  (only ${times.length}/${kills} kills detected)` : '')
  )
  for (const fp of falsePositives.slice(0, 5)) console.log(`  false positive: ${fp}`)
}
