// Typed errors of the scheduler; tests and callers match on `name`, never on the message.

/** One hard constraint and how many candidate hosts failed it. */
export interface ConstraintFailure {
  constraint: 'hosts' | 'live' | 'driver' | 'image' | 'requires' | 'memory' | 'vcpus' | 'stale'
  hosts: number
  /** Human summary, e.g. "memory: needs 4096 MiB, best host has 2048 free". */
  detail: string
}

/** No candidate host passes the hard constraints for this VM. */
export class NoHostFitsError extends Error {
  override readonly name = 'NoHostFitsError'
  readonly pool: string
  readonly vmId: string
  readonly failures: ConstraintFailure[]
  constructor (pool: string, vmId: string, candidates: number, failures: ConstraintFailure[]) {
    const why = failures.map(f => `${f.detail} (${f.hosts} host${f.hosts === 1 ? '' : 's'})`).join('; ')
    super(`${pool}/${vmId}: no host fits among ${candidates} candidate${candidates === 1 ? '' : 's'}: ${why}`)
    this.pool = pool
    this.vmId = vmId
    this.failures = failures
  }
}

/** Every fitting candidate refused the reservation (or could not be reached). */
export class ReservationRefusedError extends Error {
  override readonly name = 'ReservationRefusedError'
  readonly pool: string
  readonly vmId: string
  readonly refusals: Array<{ host: string, reason: string }>
  constructor (pool: string, vmId: string, refusals: Array<{ host: string, reason: string }>) {
    super(`${pool}/${vmId}: every candidate refused: ` +
      refusals.map(r => `${r.host} (${r.reason})`).join(', '))
    this.pool = pool
    this.vmId = vmId
    this.refusals = refusals
  }
}

/** A VM pinned by sfProcessHost whose host died: the scheduler may not move it. */
export class PinnedVmLostError extends Error {
  override readonly name = 'PinnedVmLostError'
  readonly pool: string
  readonly vmId: string
  readonly host: string
  constructor (pool: string, vmId: string, host: string) {
    super(`${pool}/${vmId}: pinned to ${host} by sfProcessHost and ${host} is dead; not re-placed`)
    this.pool = pool
    this.vmId = vmId
    this.host = host
  }
}

/** A reservation transport could not reach the host in time. */
export class HostUnreachableError extends Error {
  override readonly name = 'HostUnreachableError'
  readonly host: string
  constructor (host: string, message = 'unreachable') {
    super(`${host}: ${message}`)
    this.host = host
  }
}

/** An invalid `requires` or `sdpeer query` expression; `column` is 1-based in `source`. */
export class QuerySyntaxError extends Error {
  override readonly name = 'QuerySyntaxError'
  readonly source: string
  readonly column: number
  /** Where the query came from, e.g. "pool/VMs2Dispatch/worker-1:requires". */
  readonly origin: string | undefined
  constructor (source: string, column: number, message: string, origin?: string) {
    super(`${origin ? `${origin}: ` : ''}column ${column}: ${message}\n  ${source}\n  ${' '.repeat(Math.max(0, column - 1))}^`)
    this.source = source
    this.column = column
    this.origin = origin
  }
}

/** A scheduled deploy that hosts kept refusing: every attempt's refusals, and the last deploy error as `cause`. */
export class ScheduledDeployError extends Error {
  override readonly name = 'ScheduledDeployError'
  readonly pool: string
  readonly attempts: number
  readonly refusals: Array<{ attempt: number, host: string, reason: string }>
  constructor (pool: string, attempts: number, refusals: Array<{ attempt: number, host: string, reason: string }>, options?: { cause?: unknown }) {
    const last = refusals.filter(r => r.attempt === attempts)
    super(`${pool}: no placement admitted after ${attempts} attempt${attempts === 1 ? '' : 's'}; last refusals: ` +
      (last.length > 0 ? last.map(r => `${r.host} (${r.reason})`).join(', ') : 'none'), options)
    this.pool = pool
    this.attempts = attempts
    this.refusals = refusals
  }
}
