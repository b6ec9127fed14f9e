import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { PING_PROTOCOL } from '@libp2p/ping'
import { createMeshNode } from '../../node/mesh/node.ts'
import type { MeshNode } from '../../node/mesh/node.ts'
import type { PeerEvent } from './process-mesh.ts'

// Mesh peers in this process (real libp2p over TCP on 127.0.0.1), with the same surface as ProcessMesh, for
// machines where N Node processes do not fit. "Kill" stops a peer without a leave message: its connections
// close as a killed process's would, and nobody is told.

export interface InprocPeer {
  host: string
  peerId: string
  addrs: string[]
  events: PeerEvent[]
  node: MeshNode
  killed: boolean
}

export class InprocMesh {
  readonly peers: InprocPeer[] = []
  #base: string | undefined

  async spawn (host: string, bootstrap: string[] = []): Promise<InprocPeer> {
    this.#base ??= await mkdtemp(join(tmpdir(), 'sdpeer-inproc-'))
    const node = await createMeshNode({ host, stateDir: join(this.#base, host), bootstrap })
    await node.start()
    const peer: InprocPeer = { host, peerId: node.peerId, addrs: node.multiaddrs(), events: [], node, killed: false }
    node.membership.on(e => {
      if (e.type !== 'refute') peer.events.push({ event: e.type, peer: e.member.id, at: Date.now() })
    })
    this.peers.push(peer)
    return peer
  }

  statusOf (observer: InprocPeer, subject: InprocPeer): string | undefined {
    return observer.node.membership.member(subject.peerId)?.status
  }

  live (): InprocPeer[] { return this.peers.filter(p => !p.killed) }

  kill (p: InprocPeer): number {
    const at = Date.now()
    p.killed = true
    // As abrupt as SIGKILL: a graceful libp2p stop takes seconds and keeps answering pings meanwhile. Stop the
    // membership core, refuse pings, cut every connection, then let the stop finish in the background.
    p.node.membership.stop()
    void p.node.libp2p.unhandle(PING_PROTOCOL).catch(() => {})
    for (const c of p.node.libp2p.getConnections()) c.abort(new Error('killed'))
    void p.node.stop().catch(() => {})
    return at
  }

  async close (): Promise<void> {
    await Promise.allSettled(this.peers.filter(p => !p.killed).map(async p => { await p.node.stop() }))
    if (this.#base != null) await rm(this.#base, { recursive: true, force: true })
  }
}
