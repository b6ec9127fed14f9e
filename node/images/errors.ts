// Errors of the image subsystem. Each has a stable `name` callers and tests match on, and carries the image id or
// reference (and the peer, for transfers) it concerns.

export class ImageNotFoundError extends Error {
  override readonly name = 'ImageNotFoundError'
  readonly ref: string
  constructor (ref: string, where = 'the warehouse') {
    super(`image "${ref}" is not in ${where}`)
    this.ref = ref
  }
}

export class ImageRefError extends Error {
  override readonly name = 'ImageRefError'
  readonly ref: string
  constructor (ref: string, message: string) {
    super(`image reference "${ref}": ${message}`)
    this.ref = ref
  }
}

/** A file or record in the warehouse that does not match its own checksum or id. */
export class ImageIntegrityError extends Error {
  override readonly name = 'ImageIntegrityError'
  readonly imageId: string
  readonly peer?: string
  constructor (imageId: string, message: string, options: { peer?: string } = {}) {
    super(`image ${imageId.slice(0, 12)}: ${message}${options.peer != null ? ` (from ${options.peer})` : ''}`)
    this.imageId = imageId
    if (options.peer != null) this.peer = options.peer
  }
}

export class ImageBuildError extends Error {
  override readonly name = 'ImageBuildError'
  readonly imageId: string
  readonly step: string
  constructor (imageId: string, step: string, message: string, options?: { cause?: unknown }) {
    super(`build of image ${imageId.slice(0, 12)} failed at ${step}: ${message}`, options)
    this.imageId = imageId
    this.step = step
  }
}

export class ImageParamsError extends Error {
  override readonly name = 'ImageParamsError'
  readonly field: string
  constructor (field: string, message: string) {
    super(`${field}: ${message}`)
    this.field = field
  }
}

/** A fetch that ended before the whole image arrived; the chunks received are kept for the next attempt. */
export class TransferIncompleteError extends Error {
  override readonly name = 'TransferIncompleteError'
  readonly imageId: string
  readonly have: number
  readonly total: number
  readonly peers: string[]
  constructor (imageId: string, have: number, total: number, peers: string[], reason: string) {
    super(`image ${imageId.slice(0, 12)}: ${have}/${total} chunks after ${reason}${peers.length > 0 ? ` (peers tried: ${peers.join(', ')})` : ''}`)
    this.imageId = imageId
    this.have = have
    this.total = total
    this.peers = peers
  }
}
