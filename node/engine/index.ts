import { Engine } from './engine.ts'
import type { EngineOptions } from './engine.ts'
import type { PoolEngine } from './types.ts'

export type { EngineOptions } from './engine.ts'
export type { LvmDefaults, ShellFactory, StorageFactory, StorageInfo } from './host-io.ts'
export { defaultStorageFactory } from './host-io.ts'
export * from './types.ts'
export type { RemoteAskOptions, RemoteResolver } from './remote.ts'
export { RemoteRefPending, toWire } from './remote.ts'

export function createEngine (options: EngineOptions): PoolEngine {
  return new Engine(options)
}
