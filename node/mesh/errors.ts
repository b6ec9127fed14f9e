// Errors of the mesh. Names are stable: callers and tests match on them.

/** The identity key in the state dir exists but cannot be read as a key: never silently replaced. */
export class IdentityKeyError extends Error {
  override readonly name = 'IdentityKeyError'
  readonly path: string
  constructor (path: string, message: string, options?: { cause?: unknown }) {
    super(`${path}: ${message}`, options)
    this.path = path
  }
}

/** A signed host announcement that failed verification or validation. */
export class AnnouncementRejectedError extends Error {
  override readonly name = 'AnnouncementRejectedError'
  readonly peer?: string
  readonly reason: 'signature' | 'invalid' | 'too-large' | 'peer-mismatch'
  constructor (reason: AnnouncementRejectedError['reason'], message: string, options: { peer?: string } = {}) {
    super(`host announcement refused (${reason}): ${message}${options.peer != null ? ` (peer ${options.peer})` : ''}`)
    this.reason = reason
    if (options.peer != null) this.peer = options.peer
  }
}

/** A request on an rpc protocol that failed: timeout, refused, or a malformed answer. */
export class RpcError extends Error {
  override readonly name = 'RpcError'
  readonly peer: string
  readonly protocol: string
  readonly code: 'timeout' | 'dial' | 'malformed-response' | 'too-large' | 'remote-error' | 'closed'
  constructor (code: RpcError['code'], peer: string, protocol: string, message: string, options?: { cause?: unknown }) {
    super(`${protocol} to ${peer}: ${message}`, options)
    this.code = code
    this.peer = peer
    this.protocol = protocol
  }
}
