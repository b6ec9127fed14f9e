import type { Shell } from '../seams/shell.ts'
import type { SfJson } from '../sf/sfjson.ts'
import type { StorageBackend } from '../storage/types.ts'
import { ExecaShell } from '../seams/execa-shell.ts'
import type { StorageKind } from './component.ts'
import { EngineError } from './types.ts'

// Where the engine gets its host I/O: the Shell implementation and the storage backends, both owned by the host-I/O
// layer. Storage backends are looked up by module path at run time (lvm and cow land after loopback); the
// EngineOptions can always inject both (tests do).

export type ShellFactory = (path: string, log: (line: string) => void) => Shell
export type StorageFactory = (kind: StorageKind, attrs: Record<string, SfJson>, info: { pool: string, path: string, workDir: string, lvm?: { devDir?: string } }) => StorageBackend | Promise<StorageBackend>

export async function defaultShellFactory (): Promise<ShellFactory> {
  return (_path, log) => new ExecaShell({ log })
}

const FACTORY_NAMES: Record<StorageKind, string> = { loopback: 'loopbackBackend', lvm: 'lvmBackend', cow: 'cowBackend' }

export const defaultStorageFactory: StorageFactory = async (kind, attrs, info) => {
  const name = FACTORY_NAMES[kind]
  for (const file of ['../storage/index.ts', `../storage/${kind}.ts`]) {
    try {
      const mod = await import(String(new URL(file, import.meta.url))) as Record<string, unknown>
      const f = mod[name]
      if (typeof f === 'function') return (f as (o: unknown) => StorageBackend)({ ...attrs, ...(info.lvm ?? {}), workDir: info.workDir })
    } catch { /* try the next */ }
  }
  throw new EngineError(`no ${kind} storage backend is available on this host (${name} not found under node/storage/)`, info.pool, info.path)
}
