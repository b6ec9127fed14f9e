import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { preSharedKey } from '@libp2p/pnet'
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { Cluster } from '../../simulations/cluster/cluster.ts'
import { main } from '../../cli/main.ts'
import type { HostsResult, ResultOf } from '../../node/api/messages.ts'
import { IDENTITY_FILE } from '../../node/mesh/identity.ts'
import { createMeshNode } from '../../node/mesh/node.ts'
import type { MeshNode } from '../../node/mesh/node.ts'
import { forgetProtocol } from '../../node/mesh/forget.ts'
import { createOperatorKey } from '../../node/security/operator-key.ts'
import type { OperatorKey } from '../../node/security/operator-key.ts'
import { loadPoolKey } from '../../node/security/pool-key.ts'
import { TrustStore } from '../../node/security/trust-store.ts'
import { signRequest } from '../../protocol/auth/index.ts'
import type { ForgetBody } from '../../protocol/forget.ts'

// Issue 7's `sdpeer hosts forget`, between real daemons (separate processes, loopback, pool key, trust stores naming
// the cluster's operator admin). A host restarts with a NEW identity under the same name: every peer reports the
// conflict. Unsigned, viewer-signed and directly-sent viewer requests are refused by every peer; the admin's forget
// resolves the name on every peer, and it stays resolved while a peer that missed the forget (paused at the time)
// still offers the old announcement through directory sync; the same command run again reaches that peer too.

const HOSTS = ['f0.cern.ch', 'f1.cern.ch', 'f2.cern.ch']
const NAME = 'f2.cern.ch'
let cluster: Cluster | undefined
let viewer: OperatorKey | undefined
let oldId = ''
let restartedAt = 0
const c = (): Cluster => cluster!

async function cli (i: number, args: string[], env: Record<string, string>): Promise<{ code: number, stdout: string, stderr: string }> {
  const out: Buffer[] = []
  const err: Buffer[] = []
  const sink = (to: Buffer[]): Writable => new Writable({ write (ch, _e, cb) { to.push(Buffer.from(ch)); cb() } })
  // HOME and XDG_CONFIG_HOME point at an empty dir: no ~/.config/sdpeer/operator.key signs behind our back.
  const home = join(c().base, 'home')
  const code = await main(args, { stdout: sink(out), stderr: sink(err), env: { SDPEER_API: c().daemon(i).api, HOME: home, XDG_CONFIG_HOME: home, ...env }, cwd: process.cwd() })
  return { code, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') }
}

const hosts = async (i: number): Promise<HostsResult> => await c().call(i, 'hosts', {})

async function until (what: string, pred: () => Promise<boolean>, timeoutMs: number): Promise<number> {
  const t0 = Date.now()
  while (!(await pred())) {
    if (Date.now() - t0 > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  return Date.now() - t0
}

const conflictOf = (h: HostsResult): string[] | undefined => h.conflicts.find(x => x.host === NAME)?.peers
const claimantsOf = (h: HostsResult): string[] => h.hosts.filter(x => x.hostNames.includes(NAME)).map(x => x.peerId).sort()
const everyone = async (pred: (h: HostsResult, i: number) => boolean, among = [0, 1, 2]): Promise<boolean> => {
  for (const i of among) if (!pred(await hosts(i), i)) return false
  return true
}

beforeAll(async () => {
  cluster = await Cluster.start({ hosts: HOSTS })
  await mkdir(join(c().base, 'home'), { recursive: true })
  viewer = await createOperatorKey(join(c().base, 'viewer', 'operator.key'))
  for (const d of c().daemons) {
    const trust = await TrustStore.open(d.stateDir)
    trust.add(viewer.publicText, 'viewer', ['*'], { comment: 'hosts-forget test viewer' })
    await trust.save()
  }
  await until('every host known everywhere', async () => await everyone(h => h.hosts.filter(x => x.state === 'alive' || x.state === 'self').length === 3), 30_000)
  // f2 comes back with a new identity: its peer key deleted, as a reinstalled host would.
  oldId = c().daemon(2).peerId
  c().kill(2)
  await c().exited(2)
  await rm(join(c().daemon(2).stateDir, IDENTITY_FILE))
  await c().restart(2)
  restartedAt = Date.now()
  expect(c().daemon(2).peerId).not.toBe(oldId)
}, 90_000)

afterAll(async () => { await cluster?.stop() })

describe('sdpeer hosts forget between real daemons', () => {
  it('a host back under a new identity is a conflict on every peer, and the name resolves to nobody', async () => {
    const newId = c().daemon(2).peerId
    const both = [oldId, newId].sort()
    await until('the conflict on every peer', async () => await everyone(h => JSON.stringify(conflictOf(h)) === JSON.stringify(both)), 30_000)
    const ms = Date.now() - restartedAt
    await until('the old identity dead (or unknown) everywhere', async () => await everyone(h => {
      const s = h.hosts.find(x => x.peerId === oldId)?.state
      return s === 'dead' || s === 'unknown'
    }), 30_000)
    console.log(`conflict on all 3 peers ${ms} ms after the new identity's daemon answered its API`)
    const text = await cli(0, ['hosts'], {})
    expect(text.stdout).toContain(`conflict: host ${NAME} is claimed by ${both.join(', ')}`)
  }, 70_000)

  it('unsigned, viewer-signed, and viewer-signed sent straight to a member: refused, nothing forgotten anywhere', async () => {
    const unsigned = await cli(0, ['hosts', 'forget', NAME], {})
    expect(unsigned.code).toBe(1)
    expect(unsigned.stderr).toMatch(/forget refused: .*no operator signature/)
    const byViewer = await cli(1, ['hosts', 'forget', NAME], { SDPEER_OPERATOR_KEY: viewer!.file })
    expect(byViewer.code).toBe(1)
    expect(byViewer.stderr).toContain('a viewer may not forget')

    // A peer of the pool (it holds the pool key) hands a viewer's request to f1 directly, bypassing any entry gate.
    const psk = (await loadPoolKey(c().poolKeyFile)).protectorKey
    const rogue: MeshNode = await createMeshNode({ host: 'rogue.cern.ch', stateDir: join(c().base, 'rogue'), connectionProtector: preSharedKey({ psk }) })
    await rogue.libp2p.start()
    try {
      const target = c().daemon(1)
      await rogue.libp2p.peerStore.merge(peerIdFromString(target.peerId), { multiaddrs: target.mesh!.addrs.map(a => multiaddr(a)) })
      const body: ForgetBody = { op: 'forget', host: NAME }
      const send = async (envelope?: ReturnType<typeof signRequest>) => await rogue.rpc.request(target.peerId, forgetProtocol, { body, ...(envelope !== undefined ? { envelope } : {}) }, { timeoutMs: 10_000 })
      await expect(send(signRequest(viewer!.privateKey, 'forget', undefined, body))).rejects.toThrow(/role-not-allowed|a viewer may not forget/)
      await expect(send()).rejects.toThrow(/no operator signature/)
      // The admin's request for another name, passed off as this one: the body is not the one signed.
      await expect(send(signRequest(c().operator.privateKey, 'forget', undefined, { op: 'forget', host: 'f0.cern.ch' }))).rejects.toThrow(/not the one signed/)
    } finally {
      await rogue.libp2p.stop()
    }
    expect(await everyone(h => conflictOf(h)?.length === 2)).toBe(true)
  }, 30_000)

  it('the admin\'s forget resolves the name on every peer; sync from a peer that missed it does not undo it; run again, it reaches that peer', async () => {
    const newId = c().daemon(2).peerId
    // f1 is paused while the forget goes out: it keeps the old announcement and will offer it by directory sync.
    c().pause(1)
    let first: ResultOf['forget']
    try {
      const r = await cli(0, ['hosts', 'forget', NAME, '--json'], c().cliEnv(0))
      expect(r.stderr).toBe('')
      first = JSON.parse(r.stdout) as ResultOf['forget']
      // f1 could not be reached (or was already declared dead and not asked): either way the command says so or skips it.
      const f1 = first.members.find(m => m.peerId === c().daemon(1).peerId)
      console.log(`paused f1 at the first forget: ${f1 === undefined ? 'already dead, not asked' : `${f1.outcome} (${f1.message ?? ''})`}`)
      if (f1 !== undefined) expect(f1.outcome).toBe('unreachable')
      expect(r.code).toBe(f1 !== undefined ? 1 : 0)
    } finally {
      c().resume(1)
    }
    expect(first.forgotten.map(f => f.peerId)).toEqual([oldId])
    expect(first.kept).toEqual([{ peerId: newId, reason: 'alive' }])
    expect(first.members.find(m => m.peerId === newId)).toMatchObject({ outcome: 'done', forgotten: [{ peerId: oldId }], kept: [{ peerId: newId, reason: 'self' }] })
    for (const i of [0, 2]) {
      const h = await hosts(i)
      expect(conflictOf(h)).toBeUndefined()
      expect(claimantsOf(h)).toEqual([newId])
    }
    // f1 back: it still holds the old announcement; two directory-sync periods (5 s) later f0 and f2 still refuse it.
    await until('f1 alive again on f0 and f2', async () => await everyone(h => h.hosts.find(x => x.peerId === c().daemon(1).peerId)?.state === 'alive', [0, 2]), 30_000)
    expect(conflictOf(await hosts(1))?.length).toBe(2)
    await new Promise(resolve => setTimeout(resolve, 11_000))
    for (const i of [0, 2]) expect(claimantsOf(await hosts(i))).toEqual([newId])

    // Forgotten on f0 already, the name is not refused there: the request goes out again and f1 drops its copy.
    const t0 = performance.now()
    const again = await cli(0, ['hosts', 'forget', NAME], c().cliEnv(0))
    console.log(`hosts forget through 3 daemons (entry + 2 members verifying): ${(performance.now() - t0).toFixed(0)} ms`)
    expect(again.code).toBe(0)
    expect(again.stdout).toContain('2 of 2 other members applied it')
    expect(await everyone(h => conflictOf(h) === undefined && JSON.stringify(claimantsOf(h)) === JSON.stringify([newId]))).toBe(true)

    // The live claimant is kept unless named; forgetting what is left of the name is refused with the way out.
    const live = await cli(0, ['hosts', 'forget', 'f1.cern.ch'], c().cliEnv(0))
    expect(live.code).toBe(1)
    expect(live.stderr).toContain('every claimant is live')
    expect(live.stderr).toContain('--peer ID')
  }, 90_000)

  it('`sdpeer hosts --help` documents forget', async () => {
    const r = await cli(0, ['hosts', '--help'], {})
    expect(r.stdout).toContain('sdpeer hosts forget NAME [--peer ID] [--json]')
    expect(r.stdout).toContain('--peer ID')
  })
})
