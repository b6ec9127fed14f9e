import { Engine } from './engine.ts'
import type { EngineOptions } from './engine.ts'
import type { PoolEngine } from './types.ts'

export type { EngineOptions } from './engine.ts'
export type { ShellFactory, StorageFactory } from './host-io.ts'
export * from './types.ts'

export function createEngine (options: EngineOptions): PoolEngine {
  return new Engine(options)
}
