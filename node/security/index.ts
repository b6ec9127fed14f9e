// Host-side security building blocks. Where the daemon and the mesh plug them in:
//   startup      loadHostSecurity({ stateDir, poolKeyFile, allowPaths, insecure, now }) (refuses without pool key or
//                trust store unless insecure; log its warnings); its poolKey goes to libp2p as
//                connectionProtector: preSharedKey({ psk: poolKey.protectorKey }) from @libp2p/pnet
//   each request createAuthGate(handler, { trust, clock, insecure, replay }) of node/api/auth-gate.ts wraps the
//                control API handler (verifyApiRequest inside); the CLI signs in node/api/client.ts (signApiRequest)
//   forwarded    createPartVerifier({ trust, replay, now, isSelf }) of node/deploy/auth.ts, as DeployPeerComponents
//                .verifyPart: prepares (Merkle proofs), terminate-part and set are checked against the operator
//   prepare      hostPolicy(allowed) / setPolicy(allowed) of node/deploy/policy.ts, as DeployPeerComponents.policy /
//                .setPolicy (checkPoolPaths + checkPoolNames; checkPath + checkName for a set)
export { TrustStore, TrustStoreError, TRUST_FILE, trustFilePath } from './trust-store.ts'
export type { StoredTrustEntry } from './trust-store.ts'
export { createOperatorKey, defaultOperatorKeyPath, loadOperatorKey, OperatorKeyError } from './operator-key.ts'
export type { OperatorKey } from './operator-key.ts'
export { createPoolKeyFile, generatePoolKeyText, loadPoolKey, parsePoolKey, PoolKeyError } from './pool-key.ts'
export type { PoolKey } from './pool-key.ts'
export { checkPath, checkPoolPaths, parseAllowPaths, PathPolicyError, PATH_ATTRIBUTES } from './paths.ts'
export type { AllowedPaths, PathMode } from './paths.ts'
export { checkName, checkPoolNames, nameProblem, NameError, NAME_ATTRIBUTES } from './names.ts'
export type { NameKind } from './names.ts'
export { InsecureStartError, loadHostSecurity, DEFAULT_POOL_KEY_FILE } from './startup.ts'
export type { HostSecurity, SecurityOptions } from './startup.ts'
export { actionOf, apiRequestBody, signApiRequest, verifyApiRequest } from './request-auth.ts'
export type { ApiLikeRequest } from './request-auth.ts'
