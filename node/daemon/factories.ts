import type { HypervisorDriver } from '../drivers/types.ts'
import type { DriverFactoryOptions } from '../drivers/index.ts'
import type { EngineOptions } from '../engine/index.ts'
import type { PoolEngine } from '../engine/types.ts'

// What the daemon builds its parts with. Tests hand in fakes; the daemon loads the real driver and engine modules,
// only when it needs them (a test with fakes never loads them).

export type { DriverFactoryOptions, EngineOptions }

export interface DaemonFactories {
  createDriver (name: string, options: DriverFactoryOptions): HypervisorDriver | Promise<HypervisorDriver>
  createEngine (options: EngineOptions): PoolEngine
}

export async function loadFactories (given: Partial<DaemonFactories> = {}): Promise<DaemonFactories> {
  const createDriver = given.createDriver ?? (await import('../drivers/index.ts')).createDriver
  const createEngine = given.createEngine ?? (await import('../engine/index.ts')).createEngine
  return { createDriver, createEngine }
}
