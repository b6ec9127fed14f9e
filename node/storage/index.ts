// The storage backends, for the components that build them from a description's attributes.

export { loopbackBackend } from './loopback.ts'
export type { LoopbackOptions } from './loopback.ts'
export { lvmBackend } from './lvm.ts'
export type { LvmOptions } from './lvm.ts'
export { cowBackend, imageInfo } from './cow.ts'
export type { CowOptions, ImageInfo } from './cow.ts'
export { saveFileSystem, tarCompression } from './save-image.ts'
export type { FileSystemSource } from './save-image.ts'
export { parseSizeMiB, checkName, SAFE_NAME } from './common.ts'
export { StorageError } from './types.ts'
export type { PreparedStorage, StorageBackend, StorageContext, TeardownOptions } from './types.ts'
