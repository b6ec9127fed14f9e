import { afterEach, describe, expect, it } from 'vitest'
import { createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { TestMesh } from './helpers.ts'

let mesh: TestMesh
let server: Server | undefined
const sockets: Socket[] = []
afterEach(async () => {
  for (const s of sockets.splice(0)) s.destroy()
  await new Promise(resolve => server != null ? server.close(resolve) : resolve(undefined))
  server = undefined
  await mesh?.close()
})

describe('dials under probes and sends (node/mesh/connector.ts)', () => {
  it('a probe answers within its own timeout while the handshake under it hangs, and concurrent probes share one dial', async () => {
    mesh = new TestMesh()
    const a = await mesh.add('a.cern.ch')
    // Accepts TCP and never says a word: the noise handshake of a dial hangs, as with a stopped or swamped host.
    let accepted = 0
    server = createServer(s => { accepted++; sockets.push(s) })
    await new Promise<void>(resolve => server?.listen(0, '127.0.0.1', resolve))
    const port = (server.address() as { port: number }).port
    const id = peerIdFromPrivateKey(await generateKeyPair('Ed25519')).toString()
    const ref = { id, addrs: [`/ip4/127.0.0.1/tcp/${port}/p2p/${id}`] }
    const started = Date.now()
    const results = await Promise.all([1, 2, 3].map(async () => await new Promise<[boolean, number]>(resolve => {
      a.transport.probe(ref, 300, ok => { resolve([ok, Date.now() - started]) })
    })))
    for (const [ok, ms] of results) {
      expect(ok).toBe(false)
      expect(ms).toBeLessThan(1_500) // bounded by the probe's 300 ms, not by the 15 s dial timeout
    }
    await new Promise(resolve => setTimeout(resolve, 200))
    expect(accepted).toBe(1) // one dial for three probes
  })
})
