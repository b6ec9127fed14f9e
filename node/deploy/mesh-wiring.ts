import type { MeshNode } from '../mesh/node.ts'
import { realClock } from '../seams/clock.ts'
import type { Clock } from '../seams/clock.ts'
import { DeployPeer } from './peer.ts'
import type { DeployPeerComponents } from './peer.ts'
import { rpcDeployTransport, serveDeploy } from './rpc-transport.ts'
import type { PartEngine } from './types.ts'

// Plugs a DeployPeer into a running mesh node: requests over the node's rpc streams, hosts resolved by its
// directory, members from its failure detector (suspects count as members: claim holders must not move while
// a peer is merely suspected, or a claim could lose its majority for nothing).

export type MeshForDeploy = Pick<MeshNode, 'peerId' | 'rpc' | 'resolveHost' | 'membership'>

export interface AttachOptions extends Partial<Omit<DeployPeerComponents, 'self' | 'transport' | 'resolveHost' | 'members' | 'engine' | 'selfHost' | 'clock'>> {
  selfHost: string
  engine: PartEngine
  clock?: Clock
}

export async function attachDeploy (node: MeshForDeploy, o: AttachOptions): Promise<DeployPeer> {
  const members = (): string[] => [node.peerId, ...node.membership.members().filter(m => m.status !== 'dead').map(m => m.id)].sort()
  const peer = new DeployPeer({
    ...o,
    self: node.peerId,
    clock: o.clock ?? realClock,
    transport: rpcDeployTransport(node.rpc),
    resolveHost: (h) => node.resolveHost(h),
    members,
    isLive: (p) => p === node.peerId || node.membership.member(p)?.status === 'alive',
    isDead: (p) => p !== node.peerId && node.membership.member(p)?.status === 'dead'
  })
  await serveDeploy(node.rpc, peer.handle)
  peer.start()
  return peer
}
