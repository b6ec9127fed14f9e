// The scheduler's public face, for the daemon (mesh adapter, deploy coordination) and the CLI (estimate, query).
//
// In the deploy path (node/daemon/mesh.ts): assignScheduledHosts before the split, or deployScheduled around the
// deploy to retry elsewhere when a host refuses; announceAdmissionLoad so other peers see this host's load.
//
// Wiring in the daemon, as the simulation (simulations/scheduler/) does it in memory:
//   host side:  HostAdmission per host; its reserve/commit/release behind the reserve stream; AnnouncePolicy
//               publishes HostState (version = admission.version) on the host-announcement topic.
//   peer side:  HostView merges announcements and liveness; Placer.reserveAll/commitAll in deploy's prepare/commit,
//               over a ReservationTransport adapter of the stream; poolVms() reads the resolved pool.
//   pool side:  a PoolRecord replica per participant; PoolCoordinatorRole.onMembershipChange() on every death or
//               return the failure detector declares and on every record update received; rejoin() before a
//               returning host announces itself alive.

export * from './types.ts'
export * from './errors.ts'
export { HostAdmission } from './admission.ts'
export type { Accounting, AdmissionEntry } from './admission.ts'
export { AnnouncePolicy } from './announce.ts'
export { HostView } from './host-view.ts'
export { cost, defaultCostModel } from './cost.ts'
export type { CostModel } from './cost.ts'
export { rank, chooseOrder, placeOne, estimate, placementOrder } from './placement.ts'
export type { EstimateRow, PlacementOptions, Scored } from './placement.ts'
export { formatEstimate } from './estimate-format.ts'
export { Placer } from './placer.ts'
export type { PlacedVm, ReservationTransport } from './placer.ts'
export { poolVms, PoolDescriptionError } from './pool-vms.ts'
export { PoolRecord } from './pool-record.ts'
export type { VmRecord } from './pool-record.ts'
export { coordinatorOf, hrwOrder, PoolCoordinatorRole } from './coordinator.ts'
export { rejoin, mustStop } from './fencing.ts'
export type { LocalCopy } from './fencing.ts'
export { parseQuery, compileQuery, queryRecords } from './query.ts'
export { seededRandom } from './random.ts'
export { assignScheduledHosts, planScheduledHosts, hostStateOf, meshCandidates } from './assign.ts'
export type { AssignOptions, AssignResult, MeshHostView, Placement, Plan, PlanRow } from './assign.ts'
export { deployScheduled, learnFromFailures } from './deploy-scheduled.ts'
export type { DeployScheduledOptions, ScheduledDeployResult } from './deploy-scheduled.ts'
export { announceAdmissionLoad } from './announce-load.ts'
export { parseHostViews, HostViewsError } from './host-views.ts'
export type { HostViewInput } from './host-views.ts'
export { vmRecords } from './vm-records.ts'
export type { VmQueryRecord } from './vm-records.ts'
export type { Random } from './random.ts'
