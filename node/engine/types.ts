import type { SfJson, SfJsonObject } from '../sf/sfjson.ts'
import type { RemoteAskOptions, RemoteResolver } from './remote.ts'

// The engine's face to the daemon, the control API and (later) the mesh. The engine deploys resolved descriptions
// (SfJson) as trees of live components with SmartFrog's lifecycle and does not know where a parent or child runs.

export type ComponentState = 'deploying' | 'deployed' | 'running' | 'terminating' | 'terminated' | 'failed'

/** States only the mesh reports, for a part no owner answers for: its host is dead, or it is being placed again. */
export type UnansweredPartState = 'lost' | 're-placing'

export type TerminationType = 'normal' | 'abnormal' | 'externalReferenceDead'

/** SmartFrog's TerminationRecord: travels from a component up to its parent. */
export interface TerminationRecord {
  type: TerminationType
  reason: string
  /** Path of the component the termination started at, e.g. `computer1:domain1`. */
  path: string
}

export interface ComponentStatus {
  /** `:`-separated attribute names from the pool's root (the root itself is ""). */
  path: string
  /** The component type's short name: Compound, BashShell, XenDomain, LoopbackStorageBackend... */
  type: string
  host: string
  state: ComponentState | UnansweredPartState
  reason?: string
}

export interface PoolStatus {
  pool: string
  state: ComponentState
  components: ComponentStatus[]
  /** Termination record of the root, once terminated or failed. */
  termination?: TerminationRecord
}

export interface EngineEvent {
  time: number
  host: string
  pool: string
  path: string
  kind: 'state' | 'log' | 'attribute'
  state?: ComponentState | UnansweredPartState
  message: string
}

export interface DeployOptions {
  /** Rejects and rolls back if the pool is not running by then. */
  signal?: AbortSignal
  /**
   * Keep the failed pool in `status` (state failed, its termination record with the reason, nothing left on the host)
   * after the rollback, instead of forgetting it: for callers that do not wait for the outcome (`deploy` without
   * `--wait`), whose operator would otherwise find the pool simply gone. It stays until removed with `terminate`,
   * replaced by a deploy of the same name, or the engine's retention time (`finishedRetentionMs`) passes.
   */
  keepFailed?: boolean
}

export interface PoolEngine {
  /**
   * Deploys and starts a pool from its resolved `sfConfig`. Resolves once every component is running. On any failure
   * terminates what was deployed (storage removed, domains destroyed), forgets the pool and rejects with the reason.
   */
  deploy (pool: string, config: SfJsonObject, options?: DeployOptions): Promise<PoolStatus>
  /**
   * Terminates the pool (children in reverse order) and resolves when everything is down. On a pool that already
   * ended (failed, or ended by itself) it only removes it from `status`, answering its final status.
   */
  terminate (pool: string, type: 'normal' | 'abnormal', reason?: string): Promise<PoolStatus>
  /**
   * Terminates one component and its children ('' = the whole pool); its record goes to its parent, whose
   * sfSyncTerminate decides whether it ends too. EngineError naming the path when there is no such component here.
   * `origin`: where the termination started when below `path` (a child held by another peer; default `path`).
   */
  terminateComponent? (pool: string, path: string, type: 'normal' | 'abnormal', reason?: string, origin?: string): Promise<PoolStatus>
  status (pool?: string): PoolStatus[]
  /** Reads an attribute (or all attributes) of a live component; LAZY references resolved against the live tree. */
  get (pool: string, path: string, attr?: string): SfJson
  /**
   * `get`, following LAZY references that lead to other peers of a split pool through the RemoteResolver (each
   * read fetches again: LAZY is never cached). Engines without one may leave it out.
   */
  read? (pool: string, path: string, attr?: string): Promise<SfJson>
  /** Resolves reference text from the component at `path` for another peer (see RemoteResolver.resolve). */
  resolveFrom? (pool: string, path: string, ref: string, options: RemoteAskOptions): Promise<SfJson>
  /** Plugs in the mesh (late: the engine exists, and recovers its pools, before the mesh starts). */
  useRemoteResolver? (resolver: RemoteResolver | undefined): void
  /** Changes an attribute of a live component after checking it against the component type's schema. */
  set (pool: string, path: string, attr: string, value: SfJson): void
  /** The component's log lines (its shell's commands and output, its domain's console for VMs). */
  logs (pool: string, path: string): string[]
  /** Re-attaches to what the state dir records after a restart; terminates what was half-deployed. */
  recover (): Promise<void>
  /** Subscribes to lifecycle events; returns the unsubscribe function. */
  onEvent (listener: (e: EngineEvent) => void): () => void
  start (): Promise<void>
  /** Stops watching (liveness timers) without terminating pools: they keep running for the next daemon. */
  stop (): Promise<void>
}

export class EngineError extends Error {
  override readonly name = 'EngineError'
  readonly pool: string | undefined
  readonly path: string | undefined
  constructor (message: string, pool?: string, path?: string, options?: { cause?: unknown }) {
    super(`${pool ?? ''}${path ? `:${path}` : ''}${pool || path ? ': ' : ''}${message}`, options)
    this.pool = pool
    this.path = path
  }
}
