import { describe, expect, it } from 'vitest'
import { DeployTransportError } from '../../node/deploy/errors.ts'
import { checkRemoteComponentRefs, MAX_REF_HOPS, MAX_REF_VALUE_BYTES, ownerOf, PartNotReadyError, RefRouter, RemoteComponentReferenceError } from '../../node/deploy/remote-refs.ts'
import { splitPool } from '../../node/deploy/split.ts'
import type { DeployRequest, DeployTransport, PartEngine } from '../../node/deploy/types.ts'
import { decodeDeployRequest, encodeDeployMessage } from '../../node/deploy/wire.ts'
import type { SfJson } from '../../node/sf/sfjson.ts'
import { bashShell, compound, domain, lazy, storage } from '../engine/fixtures.ts'

// The mesh side of cross-peer LAZY references (node/deploy/remote-refs.ts): the `resolve` message on the wire,
// the router's bounds (hops, time, size) and errors naming the peer, and split's refusal of a component that
// would use a component of another host.

const hosts: Record<string, string> = { h1: 'P1', h2: 'P2', entry: 'E' }
const split = (config: ReturnType<typeof compound>) => splitPool(config, { pool: 'x', entryPeer: 'E', entryHost: 'entry', resolveHost: h => hosts[h] })

function computer (host: string, dom: Record<string, SfJson>) {
  return compound({ sfProcessHost: host, myShell: bashShell(), loop: storage('Loopback', { domainName: 'd' }), dom: domain({ storageBackend: lazy('ATTRIB loop'), ...dom }) })
}

describe('resolve on the wire', () => {
  it('carries either one attribute or the rest of a reference with its hops and time left', () => {
    const round = (r: unknown): DeployRequest => decodeDeployRequest(encodeDeployMessage(r as DeployRequest))
    expect(round({ type: 'resolve', pool: 'x', path: 'a:b', ref: 'HERE ip', hops: 1, budgetMs: 2000 })).toEqual({ type: 'resolve', pool: 'x', path: 'a:b', ref: 'HERE ip', hops: 1, budgetMs: 2000 })
    expect(round({ type: 'resolve', pool: 'x', path: '', attr: 'ip' })).toEqual({ type: 'resolve', pool: 'x', path: '', attr: 'ip' })
    expect(() => round({ type: 'resolve', pool: 'x', path: '', attr: 'ip', ref: 'HERE ip', hops: 1, budgetMs: 1 })).toThrow(/either attr or ref/)
    expect(() => round({ type: 'resolve', pool: 'x', path: '' })).toThrow(/either attr or ref/)
    expect(() => round({ type: 'resolve', pool: 'x', path: '', ref: 'HERE ip', hops: MAX_REF_HOPS + 1, budgetMs: 1 })).toThrow(/hops/)
    expect(() => round({ type: 'resolve', pool: 'x', path: '', ref: 'x'.repeat(5000), hops: 1, budgetMs: 1 })).toThrow(/ref/)
  })
})

describe('RefRouter', () => {
  const owner = { peer: 'P2', host: 'h2' }
  const engine = (answer: (ref: string) => Promise<SfJson>): PartEngine => ({ resolveRef: async (_p: string, _path: string, ref: string) => await answer(ref) }) as unknown as PartEngine

  it('asks the owner with one more hop and less time, and names the peer when it cannot', async () => {
    const sent: Array<[string, DeployRequest, number]> = []
    const transport: DeployTransport = {
      async request (peer, req, o) {
        sent.push([peer, req, o.timeoutMs])
        if (peer === 'P2') throw new DeployTransportError(peer, 'unreachable', 'connection refused')
        return { type: 'value', value: '192.0.2.20' }
      }
    }
    const router = new RefRouter({ transport, requestTimeoutMs: 3000, engine: engine(async () => null), ownerOf: (_pool, path) => path.startsWith('computer2') ? owner : { peer: 'P3', host: 'h3' } })
    expect(await router.resolve('x', 'computer3', 'HERE ip', { hops: 2, budgetMs: 1000 })).toBe('192.0.2.20')
    expect(sent[0][1]).toEqual({ type: 'resolve', pool: 'x', path: 'computer3', ref: 'HERE ip', hops: 3, budgetMs: 850 })
    expect(sent[0][2]).toBe(850)
    await expect(router.resolve('x', 'computer2:dom', 'HERE ip', { hops: 0 })).rejects.toMatchObject({ name: 'RemoteRefError', message: 'x:computer2:dom: cannot resolve HERE ip there: h2 (P2) unreachable: P2: unreachable: connection refused' })
    await expect(router.resolve('x', 'computer3', 'HERE ip', { hops: MAX_REF_HOPS })).rejects.toThrow(/more than 8 hops/)
    await expect(router.resolve('x', 'computer3', 'HERE ip', { hops: 0, budgetMs: 100 })).rejects.toThrow(/no time left to ask h3 \(P3\)/)
  })

  it('answers within the size bound, waiting within the budget for a part still being committed', async () => {
    let calls = 0
    const router = new RefRouter({
      transport: { request: async () => { throw new Error('unused') } },
      requestTimeoutMs: 3000,
      engine: engine(async ref => {
        if (++calls < 3) throw new PartNotReadyError('not yet')
        return ref === 'HERE big' ? 'x'.repeat(MAX_REF_VALUE_BYTES) : 'ok'
      }),
      ownerOf: () => owner
    })
    expect(await router.answer({ type: 'resolve', pool: 'x', path: 'a', ref: 'HERE ip', hops: 1, budgetMs: 2000 })).toBe('ok')
    expect(calls).toBe(3)
    await expect(router.answer({ type: 'resolve', pool: 'x', path: 'a', ref: 'HERE big', hops: 1, budgetMs: 2000 })).rejects.toThrow(/over the 65536 a reference may carry/)
    calls = -1000
    await expect(router.answer({ type: 'resolve', pool: 'x', path: 'a', ref: 'HERE ip', hops: 1, budgetMs: 300 })).rejects.toThrow(/not yet/)
  })

  it('finds the owner in the registry record, else in this peer\'s own plans', () => {
    const plan = split(compound({ c1: computer('h1', {}), c2: computer('h2', {}) }))
    const record = { parts: plan.parts.map(p => ({ path: p.path, host: p.host, peer: p.peer })) }
    const self = { peer: 'P1', host: 'h1' }
    expect(ownerOf(record as never, [], self, 'c2:dom')).toEqual({ peer: 'P2', host: 'h2' })
    const mine = plan.parts.filter(p => p.peer === 'P1')
    expect(ownerOf(undefined, mine, self, 'c1:dom')).toEqual(self)
    expect(ownerOf(undefined, mine, self, '')).toEqual({ peer: 'E', host: 'E' })
    expect(ownerOf(undefined, plan.parts.filter(p => p.peer === 'E'), { peer: 'E', host: 'entry' }, 'c2:dom')).toEqual({ peer: 'P2', host: 'h2' })
  })
})

describe('split refuses a component that would use a component of another host', () => {
  it('names the attribute, the target and both hosts; values across hosts and components on one host pass', () => {
    expect(() => split(compound({ c1: computer('h1', { storageBackend: lazy('ROOT:c2:loop') }), c2: computer('h2', {}) }))).toThrow(RemoteComponentReferenceError)
    expect(() => split(compound({ c1: computer('h1', { storageBackend: lazy('ROOT:c2:loop') }), c2: computer('h2', {}) })))
      .toThrow('x: c1:dom:storageBackend leads to c2:loop, a component on h2, but it is read on h1')
    // ATTRIB up into the root part finds a shell defined there: the root stays on the entry host.
    expect(() => split(compound({ myShell: bashShell(), c1: compound({ sfProcessHost: 'h1', dom: domain({}) }) }))).toThrow(/c1:dom:shell leads to myShell, a component on entry, but it is read on h1/)
    expect(split(compound({ c1: computer('h1', { gateway: lazy('ROOT:c2:dom:ip') }), c2: computer('h2', { ip: '192.0.2.2' }) })).parts).toHaveLength(3)
    expect(split(compound({ myShell: bashShell(), loop: storage('Loopback', { domainName: 'd' }), c2: compound({ dom: domain({ storageBackend: lazy('ROOT:loop') }) }), c1: computer('h1', {}) })).parts).toHaveLength(2)
    // Two subtrees on one host are still two parts (two engine pools): named as such.
    expect(() => split(compound({ c1: computer('h1', {}), c2: computer('h1', { storageBackend: lazy('ROOT:c1:loop') }) })))
      .toThrow(/c2:dom:storageBackend leads to c1:loop, a component of another subtree placed by its own sfProcessHost \(both on h1, deployed apart\)/)
    // A reference only the live tree can answer is left to run time.
    expect(split(compound({ c1: computer('h1', { gateway: lazy('ROOT:nowhere:ip') }), c2: computer('h2', {}) })).parts).toHaveLength(3)
  })

  it('checks a pool of one part without walking it', () => {
    expect(() => checkRemoteComponentRefs('x', compound({ a: lazy('ROOT:b') }), [{ path: '', peer: 'E', host: 'entry' } as never])).not.toThrow()
  })
})
