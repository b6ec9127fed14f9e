import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { HostAnnouncement } from '../../protocol/directory.ts'

// Peers and announcements for host-directory tests, without a libp2p node.

export async function peer (): Promise<{ key: Awaited<ReturnType<typeof generateKeyPair>>, id: string }> {
  const key = await generateKeyPair('Ed25519')
  return { key, id: peerIdFromPrivateKey(key).toString() }
}

export function ann (peerId: string, over: Partial<HostAnnouncement> = {}): HostAnnouncement {
  return {
    peerId,
    hostNames: ['machine9.cern.ch'],
    addrs: [`/ip4/10.0.0.9/tcp/4001/p2p/${peerId}`],
    capacity: { memoryMb: 8192, vcpus: 8 },
    load: { memoryMb: 0, vcpus: 0, domains: 0 },
    driver: 'qemu',
    version: '0.1.0',
    epoch: 1000,
    seq: 1,
    ...over
  }
}
