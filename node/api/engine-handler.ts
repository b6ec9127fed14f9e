import type { EngineEvent, PoolEngine } from '../engine/types.ts'
import type { ApiContext, ApiHandler } from './server.ts'
import type { DeployRequest, LogsRequest, PingResult, Request } from './messages.ts'
import { API_VERSION } from './messages.ts'

// Maps control API requests onto one host's PoolEngine. The mesh (issue 5) will put a router in front of this that
// sends a request to the peers holding the pool; the shape of requests and answers stays the same.

export interface HandlerInfo {
  host: string
  driver: string
  version: string
}

export interface HandlerLog {
  error (obj: object, msg: string): void
}

export function createEngineHandler (engine: PoolEngine, info: HandlerInfo, log?: HandlerLog): ApiHandler {
  return {
    async handle (req: Request, ctx: ApiContext): Promise<unknown> {
      switch (req.op) {
        case 'ping':
          return { ...info, pid: process.pid, api: API_VERSION } satisfies PingResult
        case 'deploy':
          return await deploy(engine, req, ctx, log)
        case 'terminate':
          return await engine.terminate(req.pool, req.type, req.reason)
        case 'status':
          return engine.status(req.pool)
        case 'get':
          return { value: engine.get(req.pool, req.path, req.attr) }
        case 'set':
          engine.set(req.pool, req.path, req.attr, req.value)
          return {}
        case 'logs':
          return await logs(engine, req, ctx)
        case 'events':
          return await streamEvents(engine, ctx, e => req.pool === undefined || e.pool === req.pool)
        case 'cancel':
          return {}
      }
    }
  }
}

async function deploy (engine: PoolEngine, req: DeployRequest, ctx: ApiContext, log?: HandlerLog): Promise<unknown> {
  // The engine refuses a pool name already in use before its first event, so the race below returns that refusal.
  let firstEvent: () => void = () => {}
  const accepted = new Promise<void>(resolve => { firstEvent = resolve })
  const unsubscribe = engine.onEvent(e => {
    if (e.pool !== req.pool) return
    firstEvent()
    // Progress is per component state; a pool's command output would multiply the traffic (it is in `logs`).
    if (req.wait && e.kind === 'state') ctx.emit({ kind: 'event', event: e })
  })
  // Without --wait nobody hears the outcome: a failed pool stays in `status` with its reason (see DeployOptions).
  const deployed = engine.deploy(req.pool, req.config, req.wait ? {} : { keepFailed: true })
  if (req.wait) {
    try {
      return await deployed
    } finally {
      unsubscribe()
    }
  }
  // Without --wait the answer comes once the engine has taken the pool (its first event) or refused it; the rest of
  // the deploy goes on in the daemon, and its failure lands in the daemon's log and in `status`.
  deployed.then(
    () => { unsubscribe() },
    err => { unsubscribe(); log?.error({ pool: req.pool, err }, 'deploy failed') }
  )
  const first = await Promise.race([accepted.then(() => undefined), deployed])
  return first ?? { pool: req.pool, accepted: true }
}

const FINAL = new Set(['terminated', 'failed'])

async function logs (engine: PoolEngine, req: LogsRequest, ctx: ApiContext): Promise<unknown> {
  if (!req.follow) return { lines: engine.logs(req.pool, req.path) }
  // Subscribe before the snapshot: both run in this tick, so no line falls between them.
  let done: () => void = () => {}
  const finished = new Promise<void>(resolve => { done = resolve })
  const unsubscribe = engine.onEvent(e => {
    if (e.pool !== req.pool || e.path !== req.path) return
    if (e.kind === 'log') ctx.emit({ kind: 'log', line: e.message })
    else if (e.kind === 'state' && e.state !== undefined && FINAL.has(e.state)) done()
  })
  try {
    for (const line of engine.logs(req.pool, req.path)) ctx.emit({ kind: 'log', line })
    // A component already down has nothing more to say: answer now rather than wait for an event that came before.
    const now = engine.status(req.pool)[0]?.components.find(c => c.path === req.path)?.state
    if (now !== undefined && FINAL.has(now)) done()
    ctx.signal.addEventListener('abort', () => { done() }, { once: true })
    await finished
  } finally {
    unsubscribe()
  }
  return { lines: [] }
}

async function streamEvents (engine: PoolEngine, ctx: ApiContext, filter: (e: EngineEvent) => boolean): Promise<unknown> {
  const unsubscribe = engine.onEvent(e => { if (filter(e)) ctx.emit({ kind: 'event', event: e }) })
  try {
    await new Promise<void>(resolve => {
      if (ctx.signal.aborted) resolve()
      ctx.signal.addEventListener('abort', () => { resolve() }, { once: true })
    })
  } finally {
    unsubscribe()
  }
  return {}
}

