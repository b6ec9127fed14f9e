import { afterEach, describe, expect, it } from 'vitest'
import { ProcessMesh } from '../../simulations/membership/process-mesh.ts'
import type { PeerProcess } from '../../simulations/membership/process-mesh.ts'
import { waitFor } from './helpers.ts'

let mesh: ProcessMesh
afterEach(async () => { await mesh?.close() })

function allAlive (m: ProcessMesh, peers: PeerProcess[]): boolean {
  return peers.every(o => peers.every(s => s === o || m.statusOf(o, s) === 'alive'))
}

describe('mesh peers as separate processes', () => {
  it('SIGKILL: every other peer says dead; SIGSTOP shorter than the suspicion timeout: nobody does', async () => {
    mesh = new ProcessMesh()
    const first = await mesh.spawn('p0.cern.ch')
    for (let i = 1; i < 4; i++) await mesh.spawn(`p${i}.cern.ch`, [first.addrs[0]])
    await waitFor('all alive', () => allAlive(mesh, mesh.peers), 20_000)

    const paused = mesh.peers[2]
    mesh.pause(paused)
    await new Promise(resolve => setTimeout(resolve, 1_000))
    mesh.resume(paused)
    await new Promise(resolve => setTimeout(resolve, 4_000))
    const deadNotices = mesh.peers.flatMap(p => p.events.filter(e => e.event === 'dead' && e.peer === paused.peerId))
    expect(deadNotices).toEqual([])

    const victim = mesh.peers[3]
    const killedAt = mesh.kill(victim)
    const others = mesh.live()
    await waitFor('victim dead everywhere', () => others.every(o => mesh.statusOf(o, victim) === 'dead'), 20_000)
    const detected = Math.max(...others.map(o => (o.events.find(e => e.event === 'dead' && e.peer === victim.peerId)?.at ?? 0))) - killedAt
    process.stdout.write(`SIGKILL detected by all ${others.length} peers in ${detected} ms\n`)
    expect(detected).toBeLessThan(10_000)
    expect(allAlive(mesh, others)).toBe(true)
  }, 60_000)
})
