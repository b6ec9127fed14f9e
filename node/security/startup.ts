import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { ReplayCache } from '../../protocol/auth/index.ts'
import { parseAllowPaths } from './paths.ts'
import type { AllowedPaths } from './paths.ts'
import { loadPoolKey } from './pool-key.ts'
import type { PoolKey } from './pool-key.ts'
import { TrustStore } from './trust-store.ts'

// Secure by default, in one call for the daemon's start: a daemon with no pool key or no trust store refuses to
// start unless --insecure, which it then logs (the warnings) at every start and shows in `sdpeer hosts`.
// `sdpeer init` puts both in the state dir, so `sdpeer join --state-dir DIR` needs no more flags after it.

export const DEFAULT_POOL_KEY_FILE = 'pool.key'

export class InsecureStartError extends Error {
  override readonly name = 'InsecureStartError'
  readonly stateDir: string
  constructor (stateDir: string, message: string) {
    super(`state dir ${stateDir}: ${message}`)
    this.stateDir = stateDir
  }
}

export interface SecurityOptions {
  stateDir: string
  /** --pool-key FILE; default STATE_DIR/pool.key when that exists. */
  poolKeyFile?: string
  /** --allow-path values (DIR or ro:DIR). */
  allowPaths?: readonly string[]
  /** --insecure: start without a pool key or a trust store, loudly. */
  insecure?: boolean
  /** The daemon's start time on the wall clock (ms): requests signed before it are refused as possibly replayed. */
  now: number
}

export interface HostSecurity {
  trust: TrustStore
  /** Absent only when insecure: then the mesh runs without a connection protector. */
  poolKey?: PoolKey
  allowed: AllowedPaths
  replay: ReplayCache
  /** True when running without a pool key or a trust store. */
  insecure: boolean
  /** Lines to log at start (insecure mode, a pool key file others can read). */
  warnings: string[]
}

async function exists (file: string): Promise<boolean> {
  try { await access(file); return true } catch { return false }
}

export async function loadHostSecurity (o: SecurityOptions): Promise<HostSecurity> {
  const warnings: string[] = []
  const trust = await TrustStore.open(o.stateDir)
  const keyFile = o.poolKeyFile ?? join(o.stateDir, DEFAULT_POOL_KEY_FILE)
  const poolKey = (o.poolKeyFile !== undefined || await exists(keyFile)) ? await loadPoolKey(keyFile) : undefined
  if (poolKey !== undefined) warnings.push(...poolKey.warnings)
  const missing = [
    ...(poolKey === undefined ? ['no pool key (--pool-key FILE, or STATE_DIR/pool.key)'] : []),
    ...(!trust.exists ? ['no trust store (STATE_DIR/trust.json: sdpeer trust add KEY --role admin)'] : [])
  ]
  if (missing.length > 0 && o.insecure !== true) {
    throw new InsecureStartError(o.stateDir, `${missing.join(' and ')}; run \`sdpeer init --state-dir ${o.stateDir}\` or pass --insecure`)
  }
  if (missing.length > 0) warnings.unshift(`running INSECURE: ${missing.join(', ')}: any peer may connect and any request runs unsigned`)
  if (trust.exists && trust.size === 0) warnings.push(`${trust.file} trusts no key: every change will be refused`)
  return {
    trust,
    ...(poolKey !== undefined ? { poolKey } : {}),
    allowed: parseAllowPaths(o.allowPaths ?? []),
    replay: new ReplayCache({ notBefore: o.now }),
    insecure: missing.length > 0,
    warnings
  }
}
