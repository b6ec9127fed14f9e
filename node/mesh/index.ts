// The mesh as a library: a libp2p peer with membership (SWIM + Lifeguard), a signed host directory and
// request/response streams. The daemon (node/daemon) and the control API build on these.

export { createMeshNode, MeshNode, directoryFetchProtocol } from './node.ts'
export type { MeshNodeInit, HostView } from './node.ts'
export { Directory, signAnnouncement, verifyAnnouncement } from './directory.ts'
export type { DirectoryEntry, HostConflict } from './directory.ts'
export { Rpc } from './rpc.ts'
export type { RpcCodec, RpcProtocolSpec, RpcHandler, RpcContext, RpcHost } from './rpc.ts'
export { MisbehaviourLog } from './misbehaviour.ts'
export { loadOrCreateIdentity, writeFileAtomic, IDENTITY_FILE } from './identity.ts'
export { IdentityKeyError, AnnouncementRejectedError, RpcError } from './errors.ts'
export { Libp2pMembershipTransport } from './libp2p-transport.ts'
export * from './membership/index.ts'
export { DirectorySync, digestProtocol, getProtocol } from './directory-sync.ts'
export type { DirectorySyncInit } from './directory-sync.ts'
export { Connector } from './connector.ts'
