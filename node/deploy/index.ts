// Deploy coordination across the mesh: what the daemon, the CLI handlers and the simulations import.

export { DeployPeer, terminateOrphans } from './peer.ts'
export type { DeployPeerComponents, MeshPoolStatus } from './peer.ts'
export type { DeployResult, DeployRequestOptions } from './coordinator.ts'
export { attachDeploy } from './mesh-wiring.ts'
export { PoolEnginePartEngine, enginePoolName } from './engine-adapter.ts'
export { splitPool, partOf, claimsOf, isRemotePlaceholder } from './split.ts'
export { rpcDeployTransport, serveDeploy, deployProtocol } from './rpc-transport.ts'
export { DEPLOY_PROTOCOL } from './wire.ts'
export * from './errors.ts'
export { DEFAULT_TIMINGS } from './types.ts'
export type * from './types.ts'
