import type { EngineEvent, PoolEngine, PoolStatus } from '../engine/types.ts'
import type { DeployPeer } from '../deploy/peer.ts'
import type { DeployRequestOptions, DeployResult } from '../deploy/coordinator.ts'
import { enginePoolName } from '../deploy/engine-adapter.ts'
import { partOf } from '../deploy/split.ts'
import type { PoolRecordView } from '../deploy/types.ts'
import { HostPolicyError } from '../deploy/policy.ts'
import type { PartPolicy, SetPolicy } from '../deploy/policy.ts'
import type { SignedRequest } from '../deploy/auth.ts'
import { apiRequestBody } from '../security/request-auth.ts'
import type { ApiLikeRequest } from '../security/request-auth.ts'
import type { SfJsonObject } from '../sf/sfjson.ts'
import type { ApiContext, ApiHandler } from './server.ts'
import type { DeployRequest, HostsResult, LsEntry, PingResult, Request, TerminateRequest } from './messages.ts'
import { API_VERSION, ApiRequestError } from './messages.ts'
import { queryMeshVms } from '../scheduler/query-mesh.ts'
import type { MeshPoolsReader } from '../scheduler/query-mesh.ts'
import { QuerySyntaxError } from '../scheduler/errors.ts'
import type { ForgetOutcome } from '../mesh/forget.ts'
import type { RequestEnvelope } from '../../protocol/auth/index.ts'

// Maps control API requests onto this host's PoolEngine and, when the daemon runs a mesh, onto the mesh's deploy
// service. Routing rule: a pool the mesh's registry holds (deployed across peers, from any peer) is read, changed and
// terminated through the DeployPeer, whichever peers hold its parts; a pool placed wholly on this host goes to the
// engine directly, which keeps single-host semantics (streamed progress, a failed pool kept in `status` with its
// reason, recovery after a restart). The shape of requests and answers is the same either way.

export interface HandlerInfo {
  host: string
  driver: string
  version: string
}

export interface HandlerLog {
  error (obj: object, msg: string): void
}

/** The daemon's mesh as the handler needs it (node/daemon/mesh.ts builds it). */
export interface MeshRouter {
  readonly peer: DeployPeer
  /** True when the description places some component on another peer (or on a host nobody answers to). */
  placesElsewhere (pool: string, config: SfJsonObject): boolean
  /** The scheduler's choice of hosts for Schedulee children, applied before the split. */
  schedule (pool: string, config: SfJsonObject): Promise<SfJsonObject>
  /** The mesh deploy of an unscheduled description: places, deploys, places again where hosts refuse. */
  deployScheduled (pool: string, config: SfJsonObject, options: DeployRequestOptions): Promise<DeployResult>
  hosts (): Required<Pick<HostsResult, 'self'>> & HostsResult
  /** `sdpeer hosts forget`, spread to the mesh with the operator's signed request (node/mesh/forget.ts). */
  forget? (host: string, peer: string | undefined, envelope: RequestEnvelope | undefined): Promise<ForgetOutcome>
  /** This host's policy, checked here for pools and changes that do not go through a prepare. */
  readonly policy?: PartPolicy
  readonly setPolicy?: SetPolicy
}

/** The operator's signed request as the owners verify it (node/deploy/auth.ts): the envelope and the signed body. */
function signedOf (req: Request): SignedRequest | undefined {
  return req.auth === undefined ? undefined : { envelope: req.auth, body: apiRequestBody(req as unknown as ApiLikeRequest) }
}

const isActive = (r: PoolRecordView): boolean => r.state !== 'terminated' && r.state !== 'failed'

/** One component (and its children): on this host's engine, or on the owner of its part for a mesh pool. */
async function terminateComponent (engine: PoolEngine, mesh: MeshRouter | undefined, meshPool: boolean, req: TerminateRequest, path: string): Promise<PoolStatus> {
  if (mesh !== undefined && meshPool) {
    const auth = signedOf(req)
    await mesh.peer.terminateComponent(req.pool, path, req.type, req.reason ?? `terminated by the operator (${req.type})`, auth !== undefined ? { auth } : {})
    return await meshStatus(mesh.peer, req.pool)
  }
  if (engine.terminateComponent === undefined) throw new ApiRequestError('this engine terminates whole pools only', 'path')
  return await engine.terminateComponent(req.pool, path, req.type, req.reason)
}

export function createEngineHandler (engine: PoolEngine, info: HandlerInfo, log?: HandlerLog, mesh?: MeshRouter): ApiHandler {
  const engineHas = (pool: string): boolean => engine.status().some(p => p.pool === pool)
  /** The registry record when this request is the mesh's business. */
  const meshRecord = (pool: string): PoolRecordView | undefined => {
    const r = mesh?.peer.registry.get(pool)
    if (r === undefined) return undefined
    return isActive(r) || !engineHas(pool) ? r : undefined
  }
  return {
    async handle (req: Request, ctx: ApiContext): Promise<unknown> {
      switch (req.op) {
        case 'ping':
          return { ...info, pid: process.pid, api: API_VERSION, ...(mesh ? { peerId: mesh.peer.self } : {}) } satisfies PingResult
        case 'deploy': {
          if (mesh === undefined) return await deploy(engine, req, ctx, log)
          // Signed as the operator sent it: before the scheduler writes any sfProcessHost.
          const auth = signedOf(req)
          const config = await mesh.schedule(req.pool, req.config)
          const existing = mesh.peer.registry.get(req.pool)
          if (req.at !== undefined || (existing !== undefined && isActive(existing)) || mesh.placesElsewhere(req.pool, config)) {
            // The first placement only decided that the mesh is involved: the deploy places again (with retries
            // when hosts refuse), so it gets the description as the operator sent it.
            return await meshDeploy(engine, mesh, req, ctx, log, auth)
          }
          // Wholly on this host: no prepare runs, so the host's policy is checked here.
          const problems = await mesh.policy?.(req.pool, [{ path: '', config }]) ?? []
          if (problems.length > 0) throw new HostPolicyError(req.pool, problems)
          return await deploy(engine, { ...req, config }, ctx, log)
        }
        case 'terminate': {
          const r = meshRecord(req.pool)
          if (req.path !== undefined && req.path !== '') return await terminateComponent(engine, mesh, r !== undefined, req, req.path)
          if (mesh === undefined || r === undefined) return await engine.terminate(req.pool, req.type, req.reason)
          const reason = req.reason ?? 'terminated by the operator'
          const auth = signedOf(req)
          const { unreachable, lost } = await mesh.peer.terminate(req.pool, req.type, reason, auth !== undefined ? { auth } : {})
          const termination = { type: req.type, reason: lost.length === 0 ? reason : `${reason}; lost with their host: ${lost.map(p => `${p.path === '' ? '(root)' : p.path} on ${p.host}`).join(', ')}`, path: '' }
          if (unreachable.length > 0) return { pool: req.pool, state: 'failed', components: [], termination: { ...termination, reason: `${termination.reason}; owners unreachable: ${unreachable.join(', ')}` } } satisfies PoolStatus
          return { pool: req.pool, state: 'terminated', components: [], termination } satisfies PoolStatus
        }
        case 'status': {
          if (req.local === true || mesh === undefined) return engine.status(req.pool)
          if (req.pool !== undefined) {
            return meshRecord(req.pool) !== undefined ? [await meshStatus(mesh.peer, req.pool)] : engine.status(req.pool)
          }
          // Every pool: this host's own, with the parts of mesh pools replaced by the mesh's view of those pools.
          const records = mesh.peer.registry.list().filter(isActive)
          const partNames = new Set(records.flatMap(r => r.parts.filter(p => p.peer === mesh.peer.self).map(p => enginePoolName(r.pool, p.path))))
          const local = engine.status().filter(p => !partNames.has(p.pool))
          const remote = await Promise.all(records.map(async r => await meshStatus(mesh.peer, r.pool)))
          return [...local, ...remote].sort((a, b) => a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : 0)
        }
        case 'get':
          if (mesh !== undefined && meshRecord(req.pool) !== undefined) return { value: await mesh.peer.get(req.pool, req.path, req.attr) }
          return { value: engine.get(req.pool, req.path, req.attr) }
        case 'set': {
          if (mesh !== undefined && meshRecord(req.pool) !== undefined) {
            const auth = signedOf(req)
            await mesh.peer.set(req.pool, req.path, req.attr, req.value, auth !== undefined ? { auth } : {})
            return {}
          }
          const problem = await mesh?.setPolicy?.(req.pool, req.path, req.attr, req.value)
          if (problem !== undefined) throw new HostPolicyError(req.pool, [problem])
          engine.set(req.pool, req.path, req.attr, req.value)
          return {}
        }
        case 'logs': {
          const r = mesh !== undefined ? meshRecord(req.pool) : undefined
          if (r === undefined) return await logs(engine, req.pool, req.path, req.follow, ctx)
          // Logs stay on the host that ran the commands: this peer answers for its own parts only.
          const part = partOf(r.parts, req.path)
          if (part === undefined) throw new ApiRequestError(`no component ${JSON.stringify(req.path)} in pool ${req.pool}`, 'path')
          if (part.peer !== mesh!.peer.self) throw new ApiRequestError(`${req.pool}:${req.path} runs on ${part.host} (${part.peer}); ask that host's daemon for its logs`, 'path')
          const rel = part.path === '' ? req.path : req.path.slice(part.path.length + 1)
          return await logs(engine, enginePoolName(req.pool, part.path), rel, req.follow, ctx)
        }
        case 'events':
          return await streamEvents(engine, ctx, e => req.pool === undefined || e.pool === req.pool)
        case 'cancel':
          return {}
        case 'hosts':
          return mesh?.hosts() ?? { hosts: [], conflicts: [] } satisfies HostsResult
        case 'ls':
          return ls(engine, info, mesh)
        case 'forget':
          if (mesh?.forget === undefined) throw new ApiRequestError('this daemon runs without a mesh: there is no host directory to forget from', 'op')
          return await mesh.forget(req.host, req.peer, req.auth)
        case 'query': {
          // Every pool this peer can see (the mesh's and this host's own), read the way status and get are.
          const reader: MeshPoolsReader = {
            ls: () => ls(engine, info, mesh),
            status: async pool => {
              if (mesh !== undefined && meshRecord(pool) !== undefined) return await meshStatus(mesh.peer, pool)
              const [st] = engine.status(pool)
              if (st === undefined) throw new ApiRequestError(`no pool ${pool}`, 'pool')
              return st
            },
            get: async (pool, path, attr) => mesh !== undefined && meshRecord(pool) !== undefined
              ? await mesh.peer.get(pool, path, attr)
              : engine.get(pool, path, attr)
          }
          try {
            return { vms: await queryMeshVms(reader, req.expr) }
          } catch (err) {
            if (err instanceof QuerySyntaxError) throw new ApiRequestError(err.message, 'expr')
            throw err
          }
        }
      }
    }
  }
}

/** A pool across the mesh as one PoolStatus: every owner's components, the registry's state. */
async function meshStatus (peer: DeployPeer, pool: string): Promise<PoolStatus & { unreachable: string[], dead: string[] }> {
  const st = await peer.status(pool)
  const state = st.state === 'preparing' || st.state === 'committing' ? 'deploying' : st.state === 'unknown' ? 'failed' : st.state
  return {
    pool,
    state,
    components: st.components,
    ...(st.termination !== undefined ? { termination: st.termination } : {}),
    unreachable: st.unreachable,
    dead: st.dead
  }
}

function ls (engine: PoolEngine, info: HandlerInfo, mesh: MeshRouter | undefined): LsEntry[] {
  const out: LsEntry[] = []
  const names = new Map<string, string>()
  const self = mesh?.peer.self ?? ''
  for (const h of mesh?.hosts().hosts ?? []) if (h.hostNames[0] !== undefined) names.set(h.peerId, h.hostNames[0])
  const partNames = new Set<string>()
  for (const r of mesh?.peer.registry.list() ?? []) {
    for (const p of r.parts) if (p.peer === self) partNames.add(enginePoolName(r.pool, p.path))
    out.push({
      pool: r.pool,
      state: r.state,
      entry: r.entry,
      ...(names.has(r.entry) ? { entryHost: names.get(r.entry) } : {}),
      hosts: [...new Set(r.parts.map(p => p.host))],
      parts: r.parts.length,
      scope: 'mesh',
      ...(r.reason !== undefined ? { reason: r.reason } : {})
    })
  }
  for (const p of engine.status()) {
    if (partNames.has(p.pool)) continue
    out.push({ pool: p.pool, state: p.state, entry: self, entryHost: info.host, hosts: [info.host], parts: 1, scope: 'local', ...(p.termination !== undefined ? { reason: p.termination.reason } : {}) })
  }
  return out.sort((a, b) => a.pool < b.pool ? -1 : a.pool > b.pool ? 1 : 0)
}

/** The part path an engine pool of a mesh pool holds ("" for the root part; undefined for hashed or other names). */
function partPathOf (pool: string, enginePool: string): string | undefined {
  if (enginePool === pool) return ''
  const prefix = `${pool}--`
  if (!enginePool.startsWith(prefix)) return undefined
  return enginePool.slice(prefix.length).replaceAll('.', ':')
}

async function meshDeploy (engine: PoolEngine, mesh: MeshRouter, req: DeployRequest, ctx: ApiContext, log?: HandlerLog, auth?: SignedRequest): Promise<unknown> {
  // Progress of the parts this host runs (the others report on their own hosts); paths from the pool's root.
  const unsubscribe = req.wait
    ? engine.onEvent(e => {
      const part = partPathOf(req.pool, e.pool)
      if (part === undefined || e.kind !== 'state') return
      const path = part === '' ? e.path : e.path === '' ? part : `${part}:${e.path}`
      ctx.emit({ kind: 'event', event: { ...e, pool: req.pool, path } })
    })
    : () => {}
  const deployed = mesh.deployScheduled(req.pool, req.config, { ...(req.at !== undefined ? { at: req.at } : {}), ...(auth !== undefined ? { auth } : {}) })
  if (req.wait) {
    try {
      const res = await deployed
      return { pool: req.pool, state: 'running', components: res.components } satisfies PoolStatus
    } finally {
      unsubscribe()
    }
  }
  // The split (unknown hosts, a pool name in use) is done before the deploy's first await: a refusal is already
  // settled after one turn of the event loop and goes back to the caller; the two phases go on in the daemon.
  deployed.catch(err => { log?.error({ pool: req.pool, err }, 'mesh deploy failed') })
  await Promise.race([deployed, new Promise(resolve => setImmediate(resolve))])
  return { pool: req.pool, accepted: true }
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

async function logs (engine: PoolEngine, pool: string, path: string, follow: boolean, ctx: ApiContext): Promise<unknown> {
  const req = { pool, path }
  if (!follow) return { lines: engine.logs(req.pool, req.path) }
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

