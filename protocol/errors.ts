// Errors of the wire layer. The name is stable (tests and callers match on it); the message may improve.

/** A message that failed validation: wrong shape, out-of-range value, or over its size bound. */
export class ProtocolValidationError extends Error {
  override readonly name = 'ProtocolValidationError'
  /** Dotted path inside the message where validation failed, e.g. `updates[3].inc`. */
  readonly path: string
  /** Peer that sent it, when known. */
  readonly peer?: string

  constructor (path: string, message: string, options: { peer?: string } = {}) {
    super(`${path === '' ? 'message' : path}: ${message}${options.peer != null ? ` (from ${options.peer})` : ''}`)
    this.path = path
    if (options.peer != null) this.peer = options.peer
  }
}

/** A frame larger than the bound of its protocol; the sender is misbehaving. */
export class MessageTooLargeError extends Error {
  override readonly name = 'MessageTooLargeError'
  readonly size: number
  readonly limit: number
  readonly peer?: string

  constructor (size: number, limit: number, options: { peer?: string } = {}) {
    super(`message of ${size} bytes exceeds the limit of ${limit} bytes${options.peer != null ? ` (from ${options.peer})` : ''}`)
    this.size = size
    this.limit = limit
    if (options.peer != null) this.peer = options.peer
  }
}
