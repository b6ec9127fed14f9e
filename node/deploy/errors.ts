// Typed errors of deploy coordination. Callers and tests match on `name`; every error carries the pool and, where
// one exists, the component path, the attribute path or the peer it is about.

export class UnknownHostError extends Error {
  override readonly name = 'UnknownHostError'
  readonly pool: string
  /** Attribute path of the `sfProcessHost` (or `--at`) that named the host, e.g. `computer1:sfProcessHost`. */
  readonly attrPath: string
  readonly host: string
  constructor (pool: string, attrPath: string, host: string) {
    super(`${pool}: ${attrPath}: no peer of the mesh answers to host ${JSON.stringify(host)}`)
    this.pool = pool
    this.attrPath = attrPath
    this.host = host
  }
}

/** `sfProcessHost` that is not a non-empty string (a LAZY reference cannot place a component: placement is static). */
export class BadProcessHostError extends Error {
  override readonly name = 'BadProcessHostError'
  readonly pool: string
  readonly attrPath: string
  constructor (pool: string, attrPath: string, value: unknown) {
    super(`${pool}: ${attrPath}: sfProcessHost must be a host name or address string, got ${JSON.stringify(value)}`)
    this.pool = pool
    this.attrPath = attrPath
  }
}

export class PoolExistsError extends Error {
  override readonly name = 'PoolExistsError'
  readonly pool: string
  constructor (pool: string, state: string) {
    super(`${pool}: a pool of that name already exists in the mesh (${state})`)
    this.pool = pool
  }
}

export class PoolNotFoundError extends Error {
  override readonly name = 'PoolNotFoundError'
  readonly pool: string
  constructor (pool: string) {
    super(`${pool}: no such pool in the mesh registry`)
    this.pool = pool
  }
}

export class PathNotFoundError extends Error {
  override readonly name = 'PathNotFoundError'
  readonly pool: string
  readonly path: string
  constructor (pool: string, path: string) {
    super(`${pool}:${path}: no component at that path`)
    this.pool = pool
    this.path = path
  }
}

/** One owner's refusal or failure in a phase. */
export interface PeerFailure {
  peer: string
  host: string
  phase: 'prepare' | 'commit'
  /** 'refused': the owner said no; 'unreachable'/'timeout': no answer; 'error': it answered with an error. */
  kind: 'refused' | 'unreachable' | 'timeout' | 'error'
  reason: string
}

/** The deploy did not happen; every peer was told to abort (nothing is left behind). */
export class DeployFailedError extends Error {
  override readonly name = 'DeployFailedError'
  readonly pool: string
  readonly deployId: string
  readonly failures: PeerFailure[]
  constructor (pool: string, deployId: string, failures: PeerFailure[]) {
    const why = failures.map(f => `${f.host} (${f.peer}) ${f.phase} ${f.kind}: ${f.reason}`).join('; ')
    super(`${pool}: deploy ${deployId} aborted: ${why}`)
    this.pool = pool
    this.deployId = deployId
    this.failures = failures
  }
}

/** A domain name or address already held by another pool. Names both pools. */
export class ClaimConflictError extends Error {
  override readonly name = 'ClaimConflictError'
  readonly pool: string
  readonly kind: 'name' | 'ip' | 'pool'
  readonly value: string
  readonly heldBy: string
  constructor (pool: string, kind: 'name' | 'ip' | 'pool', value: string, heldBy: string) {
    super(kind === 'pool'
      ? `${pool}: the pool name is being deployed from another peer at the same time (${heldBy})`
      : `${pool}: ${kind === 'name' ? 'domain name' : 'address'} ${JSON.stringify(value)} is already used by pool ${JSON.stringify(heldBy)}`)
    this.pool = pool
    this.kind = kind
    this.value = value
    this.heldBy = heldBy
  }
}

/** A request to a peer failed: no answer, timeout, or the peer answered with an error. */
export class DeployTransportError extends Error {
  override readonly name = 'DeployTransportError'
  readonly peer: string
  readonly code: 'unreachable' | 'timeout' | 'remote-error'
  /** What went wrong, without the peer and code (for a remote error: the owner's own message). */
  readonly detail: string
  /** The membership declared the peer dead: the request was not even sent, and sending it again is pointless. */
  readonly dead: boolean
  constructor (peer: string, code: 'unreachable' | 'timeout' | 'remote-error', message: string, options?: { cause?: unknown, dead?: boolean }) {
    super(`${peer}: ${code}: ${message}`, options?.cause !== undefined ? { cause: options.cause } : undefined)
    this.peer = peer
    this.code = code
    this.detail = message
    this.dead = options?.dead === true
  }
}

/**
 * `get`/`set` of a path whose part is on a host the mesh declared dead, or that the pool's coordinator recorded as
 * lost (a pinned VM that could not move): refused at once, naming the host and its peer, instead of timing out.
 */
export class PartLostError extends Error {
  override readonly name = 'PartLostError'
  readonly pool: string
  readonly path: string
  readonly host: string
  readonly peer: string
  constructor (pool: string, path: string, part: { path: string, host: string, peer: string }, why: string) {
    super(`${pool}:${path}: its part ${part.path === '' ? '(root)' : part.path} was on host ${part.host} (peer ${part.peer}), ${why}`)
    this.pool = pool
    this.path = path
    this.host = part.host
    this.peer = part.peer
  }
}

/** Too few claim holders answered to decide a claim (a partition or many dead peers): the deploy is refused. */
export class ClaimUnavailableError extends Error {
  override readonly name = 'ClaimUnavailableError'
  readonly pool: string
  readonly value: string
  constructor (pool: string, kind: 'name' | 'ip' | 'pool', value: string) {
    super(`${pool}: too few claim holders answered for ${kind} ${JSON.stringify(value)}`)
    this.pool = pool
    this.value = value
  }
}

/** terminate while the pool's deploy is still in its two phases: the deploy ends it (abort) or it runs first. */
export class PoolBusyError extends Error {
  override readonly name = 'PoolBusyError'
  readonly pool: string
  constructor (pool: string, state: string) {
    super(`${pool}: the pool is ${state}; terminate it once its deploy has finished`)
    this.pool = pool
  }
}

/**
 * Owners answered a terminate with an error (a signature their trust store refuses, a teardown that failed): their
 * parts still run, so the pool stays `terminating` with its claims held, and terminating it again (by an operator
 * they trust, or once the fault is fixed) finishes the job. Parts of owners that did terminate stay terminated.
 */
export class TerminateRefusedError extends Error {
  override readonly name = 'TerminateRefusedError'
  readonly pool: string
  readonly refusals: Array<{ peer: string, path: string, reason: string }>
  constructor (pool: string, refusals: Array<{ peer: string, path: string, reason: string }>) {
    super(`${pool}: terminate refused for ${refusals.map(r => `${r.path === '' ? '(root)' : r.path} by ${r.peer}: ${r.reason}`).join('; ')}; those parts still run (terminate again once this is fixed)`)
    this.pool = pool
    this.refusals = refusals
  }
}

/** The owner's engine cannot terminate a single component (simulation engines): only whole parts. */
export class ComponentTerminateUnsupportedError extends Error {
  override readonly name = 'ComponentTerminateUnsupportedError'
  readonly pool: string
  readonly path: string
  constructor (pool: string, path: string) {
    super(`${pool}:${path}: this host's engine terminates whole parts only, not one component`)
    this.pool = pool
    this.path = path
  }
}
