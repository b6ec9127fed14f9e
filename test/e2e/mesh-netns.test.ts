import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { execa } from 'execa'
import { Cluster } from '../../simulations/cluster/cluster.ts'

// The cluster harness's netns mode: each daemon in its own network namespace with its own address on a bridged LAN,
// as real hosts are. A daemon cut off the LAN (its switch port down) is declared dead by the others; once the link
// is back, the two sides find each other again without anyone acting (the membership retries dead members).

let cluster: Cluster | undefined
let skip = ''

beforeAll(async () => {
  const probe = await execa('ip', ['netns', 'add', `sdpc-probe-${process.pid}`], { reject: false })
  if (probe.exitCode !== 0) {
    skip = `network namespaces unavailable here (${probe.stderr.trim() || `exit ${probe.exitCode}`})`
    return
  }
  await execa('ip', ['netns', 'del', `sdpc-probe-${process.pid}`], { reject: false })
  cluster = await Cluster.start({ hosts: ['n0.cern.ch', 'n1.cern.ch', 'n2.cern.ch'], netns: true })
}, 60_000)

afterAll(async () => { await cluster?.stop() })

async function until (what: string, pred: () => boolean, timeoutMs: number): Promise<number> {
  const t0 = Date.now()
  while (!pred()) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return Date.now() - t0
}

describe('daemons in their own network namespaces', () => {
  it('form a mesh over their own addresses, mark a cut-off host dead, and heal the partition by themselves', async (ctx) => {
    if (skip !== '') { console.log(`skipped: ${skip}`); ctx.skip(); return }
    const c = cluster!
    const ds = c.daemons
    const whole = (): boolean => ds.every(o => ds.every(s => s === o || o.stateOf(s.peerId) === 'alive'))
    await until('mesh whole', whole, 30_000)
    // Every daemon listens on its namespace's address, not on loopback.
    for (const d of ds) {
      expect(d.mesh!.addrs[0]).toMatch(new RegExp(`^/ip4/${d.netns!.address.replaceAll('.', '\\.')}/tcp/\\d+/p2p/`))
      const h = await c.call(0, 'hosts', {})
      expect(h.hosts.find(x => x.peerId === d.peerId)?.addrs[0]).toBe(d.mesh!.addrs[0])
    }
    await c.cut(2)
    const dead = await until('n0 and n1 to say n2 dead', () => [0, 1].every(i => ds[i]!.stateOf(ds[2]!.peerId) === 'dead'), 20_000)
    await until('n2 to say both others dead', () => [0, 1].every(i => ds[2]!.stateOf(ds[i]!.peerId) === 'dead'), 20_000)
    await c.heal(2)
    const healed = await until('the partition to heal', whole, 30_000)
    console.log(`netns partition: n2 declared dead ${dead} ms after the cut; whole again ${healed} ms after the heal`)
  }, 90_000)
})
