import { EngineError } from '../../engine/types.ts'
import type { PoolEngine, PoolStatus } from '../../engine/types.ts'
import type { SfJson } from '../../sf/sfjson.ts'
import type { Request, ResultOf } from '../messages.ts'
import type { ApiHandler } from '../server.ts'

// Where the console reads and changes pools. On its own a console sees its host's engine; in a daemon of the mesh it
// goes through the daemon's control-API handler instead, which routes each request to the peers holding the pool's
// parts (node/api/engine-handler.ts), so the pages show and act on pools as trees across the mesh, exactly as
// `sdpeer status/get/set/terminate` do from this host.

export interface PoolAccess {
  status (pool?: string): Promise<PoolStatus[]>
  get (pool: string, path: string, attr?: string): Promise<SfJson>
  set (pool: string, path: string, attr: string, value: SfJson): Promise<void>
  logs (pool: string, path: string): Promise<string[]>
  /** `path` '': the whole pool; else that component and its children (its parent's sfSyncTerminate decides the rest). */
  terminate (pool: string, path: string, type: 'normal' | 'abnormal', reason: string): Promise<PoolStatus>
}

export function engineAccess (engine: PoolEngine): PoolAccess {
  return {
    status: async pool => engine.status(pool),
    get: async (pool, path, attr) => engine.get(pool, path, attr),
    set: async (pool, path, attr, value) => { engine.set(pool, path, attr, value) },
    logs: async (pool, path) => engine.logs(pool, path),
    terminate: async (pool, path, type, reason) => {
      if (path === '') return await engine.terminate(pool, type, reason)
      if (engine.terminateComponent === undefined) throw new EngineError('this engine terminates whole pools only', pool, path)
      return await engine.terminateComponent(pool, path, type, reason)
    }
  }
}

type Body<O extends Request['op']> = Omit<Extract<Request, { op: O }>, 'id' | 'op'>

/** Through the daemon's handler: the same routing, checks and errors as the control API. */
export function handlerAccess (handler: ApiHandler): PoolAccess {
  let next = 0
  const call = async <O extends Request['op']>(op: O, body: Body<O>): Promise<ResultOf[O]> => {
    const req = { ...body, op, id: `console-${++next}` } as unknown as Request
    return await handler.handle(req, { emit: () => {}, signal: new AbortController().signal }) as ResultOf[O]
  }
  return {
    status: async pool => await call('status', pool === undefined ? {} : { pool }),
    get: async (pool, path, attr) => (await call('get', attr === undefined ? { pool, path } : { pool, path, attr })).value,
    set: async (pool, path, attr, value) => { await call('set', { pool, path, attr, value }) },
    logs: async (pool, path) => (await call('logs', { pool, path, follow: false })).lines,
    terminate: async (pool, path, type, reason) => await call('terminate', path === '' ? { pool, type, reason } : { pool, type, reason, path })
  }
}
