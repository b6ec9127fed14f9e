import { afterEach, describe, expect, it } from 'vitest'
import * as lp from 'it-length-prefixed'
import { MEMBERSHIP_PROTOCOL } from '../../protocol/ids.ts'
import { validateMembershipMessage } from '../../protocol/membership.ts'
import type { MeshNode } from '../../node/mesh/node.ts'
import type { RpcProtocolSpec } from '../../node/mesh/rpc.ts'
import { parseJsonBytes, jsonBytes, obj, str, onlyKeys } from '../../protocol/validate.ts'
import { TestMesh, waitFor } from './helpers.ts'

interface Echo { text: string }
const echoCodec = {
  maxBytes: 1024,
  encode: (v: Echo) => jsonBytes(v),
  decode: (b: Uint8Array): Echo => {
    const o = obj(parseJsonBytes(b, 1024), '')
    onlyKeys(o, '', ['text'])
    return { text: str(o.text, 'text', 512, 0) }
  }
}
const echo: RpcProtocolSpec<Echo, Echo> = { id: '/sdpeer/test-echo/1.0.0', request: echoCodec, response: echoCodec }

let mesh: TestMesh
afterEach(async () => { await mesh?.close() })

async function pair (): Promise<[MeshNode, MeshNode]> {
  mesh = new TestMesh()
  const a = await mesh.add('a.cern.ch')
  const b = await mesh.add('b.cern.ch', { bootstrap: [a.multiaddrs()[0]] })
  await waitFor('joined', () => a.membership.member(b.peerId)?.status === 'alive')
  return [a, b]
}

/** Sends raw bytes as one frame on `protocol`, as a misbehaving peer would. */
async function sendRaw (from: MeshNode, to: MeshNode, protocol: string, frame: Uint8Array): Promise<void> {
  const stream = await from.libp2p.dialProtocol(to.libp2p.peerId, protocol)
  stream.send(frame)
  await stream.close().catch(() => {})
}

describe('rpc over libp2p streams', () => {
  it('round-trips a validated request and response, and carries a handler error by name', async () => {
    const [a, b] = await pair()
    await b.rpc.handle(echo, async (req, ctx) => {
      if (req.text === 'fail') throw Object.assign(new Error('no capacity'), { name: 'CapacityError' })
      return { text: `${req.text} from ${ctx.peer.slice(-4)}` }
    })
    expect(await a.rpc.request(b.peerId, echo, { text: 'hello' })).toEqual({ text: `hello from ${a.peerId.slice(-4)}` })
    await expect(a.rpc.request(b.peerId, echo, { text: 'fail' })).rejects.toMatchObject({ name: 'RpcError', code: 'remote-error', message: expect.stringContaining('CapacityError: no capacity') })
    expect(b.misbehaviour(a.peerId)).toBe(0)
  })

  it('refuses an oversized frame before reading it, counts it and disconnects the sender', async () => {
    const [a, b] = await pair()
    let served = 0
    await b.rpc.handle(echo, async (req) => { served++; return req })
    await sendRaw(a, b, echo.id, lp.encode.single(new Uint8Array(4096)).subarray())
    const before = b.libp2p.getConnections(a.libp2p.peerId)
    expect(before.length).toBeGreaterThan(0)
    await waitFor('misbehaviour counted', () => b.misbehaviour(a.peerId) === 1)
    expect(served).toBe(0)
    expect(b.misbehaviourLog.get(a.peerId)?.last).toContain('MessageTooLargeError')
    // Every connection it had is closed (membership may well dial a fresh one afterwards to probe it).
    await waitFor('disconnected', () => before.every(c => c.status !== 'open'))
  })

  it('refuses malformed frames (bad JSON, unknown field) and counts each', async () => {
    const [a, b] = await pair()
    let served = 0
    await b.rpc.handle(echo, async (req) => { served++; return req })
    await sendRaw(a, b, echo.id, lp.encode.single(new TextEncoder().encode('{"text":')).subarray())
    await waitFor('first counted', () => b.misbehaviour(a.peerId) === 1)
    const before = a.libp2p.getConnections(b.libp2p.peerId)
    await sendRaw(a, b, echo.id, lp.encode.single(jsonBytes({ text: 'x', evil: true })).subarray())
    await waitFor('second counted', () => b.misbehaviour(a.peerId) === 2)
    expect(served).toBe(0)
    // After all that, a well-formed request from the same peer still works: it was disconnected, not banned. (Once
    // its side has seen the disconnect: a request racing the close may fail, as on any dropped connection.)
    await waitFor('a sees the disconnect', () => before.every(c => c.status !== 'open'))
    expect(await a.rpc.request(b.peerId, echo, { text: 'ok' })).toEqual({ text: 'ok' })
  })

  it('a malformed membership message is refused and counted the same way', async () => {
    const [a, b] = await pair()
    const bad = jsonBytes({ type: 'gossip', updates: [{ status: 'alive', id: 'x', inc: -5 }] })
    expect(() => validateMembershipMessage(JSON.parse(new TextDecoder().decode(bad)))).toThrow()
    await sendRaw(a, b, MEMBERSHIP_PROTOCOL, lp.encode.single(bad).subarray())
    await waitFor('counted', () => b.misbehaviour(a.peerId) === 1)
    expect(b.membership.member('x')).toBeUndefined()
  })

  it('times out a request whose handler never answers', async () => {
    const [a, b] = await pair()
    await b.rpc.handle(echo, async () => await new Promise<Echo>(() => {}))
    const start = Date.now()
    await expect(a.rpc.request(b.peerId, echo, { text: 'hang' }, { timeoutMs: 300 })).rejects.toMatchObject({ name: 'RpcError', code: 'timeout' })
    expect(Date.now() - start).toBeLessThan(2_000)
  })
})
