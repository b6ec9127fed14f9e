import type { DiskSpec } from '../drivers/types.ts'
import type { Shell } from '../seams/shell.ts'

// The storage seam: a backend prepares a guest's disks before its domain starts and tears them down after it
// stops (keeping them, deleting them, or saving the guest file system as an image first).

export interface StorageContext {
  shell: Shell
  /** Directory for this backend's files (loopback images, overlays), created by the caller. */
  workDir: string
  signal?: AbortSignal
  /**
   * Called (and awaited) by prepare before it creates anything outside the work dir (LVM volumes), with a record of
   * the same shape as PreparedStorage.record naming what it is about to create. The caller saves it durably, so a
   * daemon killed in the middle of prepare can give it to teardown and remove what was created. Absent: no intent kept.
   */
  intend?: (record: Record<string, unknown>) => Promise<void>
}

export interface PreparedStorage {
  disks: DiskSpec[]
  /** JSON-serialisable record of what was created, saved by the daemon so a restarted daemon can tear it down. */
  record: Record<string, unknown>
}

export interface TeardownOptions {
  keepVolumes: boolean
  /** When set, the guest file system is written here (tar, tar.gz or tgz by extension) before volumes go. */
  saveImageTo?: string
}

export interface StorageBackend {
  readonly kind: 'loopback' | 'lvm' | 'cow'
  /** Creates the volumes and fills the root file system. On failure removes whatever it created, then throws. */
  prepare (ctx: StorageContext): Promise<PreparedStorage>
  /** Idempotent: volumes already gone are not an error. */
  teardown (ctx: StorageContext, prepared: PreparedStorage, options: TeardownOptions): Promise<void>
}

export class StorageError extends Error {
  override readonly name = 'StorageError'
  readonly backend: string
  constructor (backend: string, message: string, options?: { cause?: unknown }) {
    super(`${backend} storage: ${message}`, options)
    this.backend = backend
  }
}
