import type { SfJson, SfJsonObject } from '../sf/sfjson.ts'
import { isComponent, isEagerComponent } from '../sf/sfjson.ts'
import { BadProcessHostError, UnknownHostError } from './errors.ts'
import { checkRemoteComponentRefs } from './remote-refs.ts'
import type { Claims, HostResolver, PartPlan, SplitPlan } from './types.ts'

// Splits a resolved pool into the subtrees each peer deploys. As in SmartFrog, `sfProcessHost` is read from the
// component's own attributes (HERE, not inherited): a component without one stays with its parent. The part that
// keeps the parent holds a placeholder where each remote child was, so the tree keeps its shape (a remote child
// is a child reached through the mesh). The placeholder is marked `$data` so an engine that does not know it
// treats it as a plain attribute rather than deploying it.
//
// Every host is resolved before anything is contacted: an unknown host is an error naming the attribute path.
// So is a LAZY reference from a component to a component that lands on another host (a VM and a disk of another
// host): it could be named across the mesh but never used (remote-refs.ts).

export const REMOTE_KEY = '$remote'

export interface RemotePlaceholder { path: string, host: string, peer: string }

export function remotePlaceholder (p: RemotePlaceholder): SfJsonObject {
  return { $data: true, [REMOTE_KEY]: { path: p.path, host: p.host, peer: p.peer } }
}

export function isRemotePlaceholder (v: SfJson): boolean {
  const r = isComponent(v) && v.$data === true ? v[REMOTE_KEY] : undefined
  return typeof r === 'object' && r !== null && !Array.isArray(r)
}

export interface SplitOptions {
  pool: string
  /** The peer that took the deploy, and the host name it answers to. */
  entryPeer: string
  entryHost: string
  resolveHost: HostResolver
  /** `--at HOST`: where the root goes (default: the root's own sfProcessHost, else the entry peer). */
  at?: string
}

// processcompound.sf's values: a parent pings a remote child every 15 s, the child gives up after 2 missed pings.
const DEFAULT_LIVENESS_DELAY_S = 15
const DEFAULT_LIVENESS_FACTOR = 2

const join = (parent: string, name: string): string => parent === '' ? name : `${parent}:${name}`
const attrPath = (path: string, attr: string): string => path === '' ? attr : `${path}:${attr}`

interface Inherited { livenessDelayS: number, livenessFactor: number }

export function splitPool (config: SfJsonObject, o: SplitOptions): SplitPlan {
  const parts: PartPlan[] = []

  const place = (cd: SfJsonObject, path: string): { host: string, peer: string } | undefined => {
    const v = cd.sfProcessHost
    if (v === undefined) return undefined
    if (typeof v !== 'string' || v === '') throw new BadProcessHostError(o.pool, attrPath(path, 'sfProcessHost'), v)
    const peer = o.resolveHost(v)
    if (peer === undefined) throw new UnknownHostError(o.pool, attrPath(path, 'sfProcessHost'), v)
    return { host: v, peer }
  }

  const inherit = (cd: SfJsonObject, up: Inherited): Inherited => ({
    livenessDelayS: typeof cd.sfLivenessDelay === 'number' ? cd.sfLivenessDelay : up.livenessDelayS,
    livenessFactor: typeof cd.sfLivenessFactor === 'number' ? cd.sfLivenessFactor : up.livenessFactor
  })

  /** Copies `cd` (at `path`, in `part`), cutting out remote children as new parts. */
  const copy = (cd: SfJsonObject, path: string, part: PartPlan, inh: Inherited): SfJsonObject => {
    const out: SfJsonObject = {}
    for (const [name, value] of Object.entries(cd)) {
      if (!isEagerComponent(value)) { out[name] = value; continue }
      const childPath = join(path, name)
      const childInh = inherit(value, inh)
      const where = place(value, childPath)
      if (where === undefined || where.peer === part.peer) {
        out[name] = copy(value, childPath, part, childInh)
        continue
      }
      out[name] = remotePlaceholder({ path: childPath, host: where.host, peer: where.peer })
      part.remoteChildren.push({ path: childPath, host: where.host, peer: where.peer })
      newPart(value, childPath, where, { path, peer: part.peer, sync: cd.sfSyncTerminate === true }, childInh)
    }
    return out
  }

  const newPart = (cd: SfJsonObject, path: string, where: { host: string, peer: string },
    parent: { path: string, peer: string, sync: boolean } | undefined, inh: Inherited): void => {
    const part: PartPlan = {
      path,
      host: where.host,
      peer: where.peer,
      ...(parent !== undefined ? { parentPath: parent.path, parentPeer: parent.peer } : {}),
      config: {},
      remoteChildren: [],
      syncTerminate: cd.sfSyncTerminate === true,
      livenessDelayMs: Math.max(0, inh.livenessDelayS * 1000),
      livenessFactor: Math.max(1, inh.livenessFactor)
    }
    parts.push(part)
    part.config = copy(cd, path, part, inh)
  }

  let root: { host: string, peer: string }
  if (o.at !== undefined) {
    const peer = o.resolveHost(o.at)
    if (peer === undefined) throw new UnknownHostError(o.pool, '--at', o.at)
    root = { host: o.at, peer }
  } else {
    root = place(config, '') ?? { host: o.entryHost, peer: o.entryPeer }
  }
  newPart(config, '', root, undefined, inherit(config, { livenessDelayS: DEFAULT_LIVENESS_DELAY_S, livenessFactor: DEFAULT_LIVENESS_FACTOR }))
  // newPart pushes a part before copying its children, so `parts` is in pre-order: parents before children.
  checkRemoteComponentRefs(o.pool, config, parts)
  return { pool: o.pool, parts }
}

/** A component path's names from the root ("" is the root: none). */
export const pathSegments = (path: string): string[] => path === '' ? [] : path.split(':')

/** The part holding `path`: the one whose path is the longest prefix of it. */
export function partOf<P extends { path: string }> (parts: readonly P[], path: string): P | undefined {
  let best: P | undefined
  for (const p of parts) {
    const prefix = p.path === '' || path === p.path || path.startsWith(`${p.path}:`)
    if (prefix && (best === undefined || p.path.length > best.path.length)) best = p
  }
  return best
}

/** Domain names and addresses the parts would use: `domainName` and `ip` of every component (placeholders skipped). */
export function claimsOf (parts: readonly PartPlan[]): Claims {
  const names = new Set<string>()
  const ips = new Set<string>()
  const walk = (cd: SfJsonObject): void => {
    if (typeof cd.domainName === 'string' && cd.domainName !== '') names.add(cd.domainName)
    if (typeof cd.ip === 'string' && cd.ip !== '') ips.add(cd.ip)
    for (const v of Object.values(cd)) if (isEagerComponent(v)) walk(v)
  }
  for (const p of parts) walk(p.config)
  return { names: [...names].sort(), ips: [...ips].sort() }
}
