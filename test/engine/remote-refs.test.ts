import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { SimDriver } from '../../node/drivers/sim.ts'
import type { DomainHandle, DomainSpec } from '../../node/drivers/types.ts'
import { createEngine } from '../../node/engine/index.ts'
import type { PoolEngine, RemoteAskOptions, RemoteResolver } from '../../node/engine/index.ts'
import { realClock } from '../../node/seams/clock.ts'
import type { SfJson } from '../../node/sf/sfjson.ts'
import { bashShell, compound, domain, fileStorage, lazy, removeTempDirs, storage, tempDir } from './fixtures.ts'

// The engine's seam to the mesh (node/engine/remote.ts): an engine pool that is one part of a split pool asks its
// RemoteResolver for what lies outside it, and answers other peers through resolveFrom. The resolver here is an
// in-memory table standing in for the other peers, recording every question.

afterAll(removeTempDirs)

class RecordingSim extends SimDriver {
  readonly specs: DomainSpec[] = []
  override async start (spec: DomainSpec, options?: { signal?: AbortSignal }): Promise<DomainHandle> {
    this.specs.push(spec)
    return await super.start(spec, options)
  }
}

/** Other peers as a table: `${path} ${ref}` -> answer (a function may throw, as an unreachable peer does). */
class TableResolver implements RemoteResolver {
  readonly asked: Array<[string, string, string, number]> = []
  readonly answers = new Map<string, SfJson | (() => SfJson)>()
  readonly places = new Map<string, { path: string, parentPath?: string }>()
  placement (pool: string): { path: string, parentPath?: string } | undefined { return this.places.get(pool) }
  async resolve (pool: string, path: string, ref: string, o: RemoteAskOptions): Promise<SfJson> {
    this.asked.push([pool, path, ref, o.hops])
    const a = this.answers.get(`${path} ${ref}`)
    if (a === undefined) throw new Error(`peer P2 (h2): no answer for ${path} ${ref}`)
    return typeof a === 'function' ? a() : a
  }
}

/** computer1's part of a pool whose root and computer2 live elsewhere (as split.ts cuts it). */
function part1 (dom: Record<string, SfJson>) {
  return compound({
    sfProcessHost: 'h1',
    myShell: bashShell(),
    loop: storage('Loopback', { domainName: 'vm1' }),
    dom: domain({ domainName: 'vm1', ip: '192.0.2.10', hostname: 'vm1', storageBackend: lazy('ATTRIB loop'), ...dom })
  })
}

async function engineWith (resolver: TableResolver | undefined): Promise<{ engine: PoolEngine, driver: RecordingSim }> {
  const dir = await tempDir('remote-refs')
  const driver = new RecordingSim({ clock: realClock })
  const engine = createEngine({ host: 'h1', stateDir: join(dir, 'state'), driver, storage: fileStorage([]) })
  await engine.start()
  if (resolver !== undefined) engine.useRemoteResolver?.(resolver)
  return { engine, driver }
}

describe('LAZY references that leave an engine pool', () => {
  it('hand the rest of the walk to the resolver (ROOT, ATTRIB past the part root), at deploy and on every read', async () => {
    const r = new TableResolver()
    r.places.set('p--computer1', { path: 'computer1', parentPath: '' })
    let ip = '192.0.2.20'
    r.answers.set(' ROOT:HERE computer2:HERE dom:HERE ip', () => ip)
    r.answers.set(' ATTRIB siteNetmask', '255.255.0.0')
    const { engine, driver } = await engineWith(r)
    await engine.deploy('p--computer1', part1({ gateway: lazy('ROOT:computer2:dom:ip'), netmask: lazy('ATTRIB siteNetmask') }))
    expect(driver.specs.map(s => [s.gateway, s.netmask])).toEqual([['192.0.2.20', '255.255.0.0']])
    // Asked at deploy and again at start: what a step reads is fetched for that step.
    expect(r.asked.filter(a => a[2].startsWith('ROOT')).length).toBe(2)
    expect(r.asked.every(a => a[0] === 'p--computer1' && a[1] === '' && a[3] === 0)).toBe(true)
    // Never cached: the next read asks again.
    ip = '192.0.2.21'
    expect(await engine.read?.('p--computer1', 'dom', 'gateway')).toBe('192.0.2.21')
    // Local references still resolve locally; component paths are given in the whole pool.
    expect(await engine.read?.('p--computer1', 'dom')).toMatchObject({ gateway: '192.0.2.21', netmask: '255.255.0.0', storageBackend: { $component: 'computer1:loop' } })
    // The synchronous get cannot wait for the mesh, and says so.
    expect(() => engine.get('p--computer1', 'dom', 'gateway')).toThrow(/held by another peer, read through the mesh only at deploy, start and get/)
    await engine.stop()
  })

  it('step into a placeholder (a child deployed elsewhere) and refuse to use a component of another host', async () => {
    const r = new TableResolver()
    r.places.set('p', { path: '' })
    r.answers.set('computer2 HERE dom:HERE hostname', 'vm2')
    const { engine } = await engineWith(r)
    const root = compound({
      myShell: bashShell(),
      computer2: { $data: true, $remote: { path: 'computer2', host: 'h2', peer: 'P2' } },
      loop: storage('Loopback', { domainName: 'vm0' }),
      dom: domain({ domainName: 'vm0', ip: '192.0.2.9', hostname: lazy('computer2:dom:hostname'), storageBackend: lazy('ATTRIB loop') })
    })
    await engine.deploy('p', root)
    expect(await engine.read?.('p', 'dom', 'hostname')).toBe('vm2')
    expect(await engine.read?.('p', '', 'computer2')).toEqual({ $component: 'computer2', $host: 'h2' })
    await engine.terminate('p', 'normal')

    const bad = compound({ ...root, dom: domain({ domainName: 'vm0', ip: '192.0.2.9', storageBackend: lazy('computer2:disk') }) })
    r.answers.set('computer2 HERE disk', { $component: 'computer2:disk', $host: 'h2' })
    await expect(engine.deploy('p', bad)).rejects.toThrow(/storageBackend leads to computer2:disk, a component on h2, not on h1: a component can only use components of its own host and part/)
    await engine.stop()
  })

  it('fail with the peer\'s error when it cannot be asked, unless OPTIONAL gives a default', async () => {
    const r = new TableResolver()
    r.places.set('p--computer1', { path: 'computer1', parentPath: '' })
    const { engine, driver } = await engineWith(r)
    await expect(engine.deploy('p--computer1', part1({ gateway: lazy('ROOT:computer2:dom:ip') }))).rejects.toThrow(/peer P2 \(h2\): no answer for  ROOT:HERE computer2:HERE dom:HERE ip/)
    expect(driver.specs).toEqual([])
    await engine.deploy('p--computer1', part1({ gateway: { $ref: 'LAZY OPTIONAL("192.0.2.254") ROOT:computer2:dom:ip' } }))
    expect(driver.specs.map(s => s.gateway)).toEqual(['192.0.2.254'])
    await engine.stop()
  })

  it('without a resolver, a reference into a placeholder fails clearly instead of resolving against the wrong tree', async () => {
    const { engine } = await engineWith(undefined)
    const root = compound({ computer2: { $data: true, $remote: { path: 'computer2', host: 'h2', peer: 'P2' } }, x: lazy('computer2:dom:ip') })
    await engine.deploy('p', root)
    expect(() => engine.get('p', '', 'x')).toThrow(/computer2 is held by another peer \(h2\) and this engine has no mesh to ask/)
    await engine.stop()
  })

  it('answer other peers from a component (resolveFrom), asking further with one more hop', async () => {
    const r = new TableResolver()
    r.places.set('p--computer1', { path: 'computer1', parentPath: '' })
    r.answers.set(' ATTRIB siteNetmask', '255.255.0.0')
    const { engine } = await engineWith(r)
    await engine.deploy('p--computer1', part1({ netmask: lazy('ATTRIB siteNetmask') }))
    expect(await engine.resolveFrom?.('p--computer1', 'dom', 'HERE ip', { hops: 1 })).toBe('192.0.2.10')
    expect(await engine.resolveFrom?.('p--computer1', 'dom', 'HERE netmask', { hops: 3 })).toBe('255.255.0.0')
    expect(r.asked.at(-1)).toEqual(['p--computer1', '', 'ATTRIB siteNetmask', 4])
    expect(await engine.resolveFrom?.('p--computer1', 'dom', 'HERE storageBackend', { hops: 1 })).toEqual({ $component: 'computer1:loop', $host: 'h1' })
    await expect(engine.resolveFrom?.('p--computer1', 'nope', 'HERE ip', { hops: 1 })).rejects.toThrow(/no such component/)
    await engine.stop()
  })
})
