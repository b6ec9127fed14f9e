// Who may do what. Three roles, ordered: a viewer reads, an operator changes pools its globs name, an admin does
// everything, including the mesh-wide actions that no pool glob can scope (forgetting a host, changing trust).

export type Role = 'viewer' | 'operator' | 'admin'
export const ROLES: readonly Role[] = ['viewer', 'operator', 'admin']

/** Actions that only read; a viewer may do them (signed or, on the 0600 local socket, unsigned). */
export const READ_ACTIONS = ['ping', 'status', 'get', 'logs', 'events', 'hosts', 'ls', 'query'] as const
/** Actions on one pool: an operator may do them when the pool matches one of its globs. */
export const POOL_ACTIONS = ['deploy', 'terminate', 'set'] as const
/** Image actions: not pool-scoped. Building adds to the warehouse; deleting may break other pools, so it is admin's. */
export const OPERATOR_ACTIONS = ['image-build'] as const
export const ADMIN_ACTIONS = ['image-delete', 'forget', 'trust-add', 'trust-rm'] as const

export type ReadAction = typeof READ_ACTIONS[number]
export type Action = ReadAction | typeof POOL_ACTIONS[number] | typeof OPERATOR_ACTIONS[number] | typeof ADMIN_ACTIONS[number]
export const ACTIONS: readonly Action[] = [...READ_ACTIONS, ...POOL_ACTIONS, ...OPERATOR_ACTIONS, ...ADMIN_ACTIONS]

export function isAction (v: unknown): v is Action {
  return typeof v === 'string' && (ACTIONS as readonly string[]).includes(v)
}

export function isRole (v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v)
}

/** Every action that changes something must carry an operator's signature. */
export function requiresSignature (action: Action): boolean {
  return !(READ_ACTIONS as readonly string[]).includes(action)
}

/** Whether the pool must be named (and matched against the operator's globs) for this action. */
export function isPoolAction (action: Action): boolean {
  return (POOL_ACTIONS as readonly string[]).includes(action)
}

export function roleAllows (role: Role, action: Action): boolean {
  if (role === 'admin') return true
  if ((READ_ACTIONS as readonly string[]).includes(action)) return true
  if (role === 'viewer') return false
  return isPoolAction(action) || (OPERATOR_ACTIONS as readonly string[]).includes(action)
}

const GLOB = /^[A-Za-z0-9_.*?-]{1,128}$/

/** A pool glob: pool-name characters plus `*` (any run) and `?` (one character). */
export function isPoolGlob (v: unknown): v is string {
  return typeof v === 'string' && GLOB.test(v)
}

/** Glob match without regular expressions built from input (no backtracking blow-up): linear two-pointer walk. */
export function globMatch (glob: string, name: string): boolean {
  let g = 0
  let n = 0
  let star = -1
  let mark = 0
  while (n < name.length) {
    if (g < glob.length && (glob[g] === '?' || glob[g] === name[n])) { g++; n++ } else if (g < glob.length && glob[g] === '*') { star = g++; mark = n } else if (star >= 0) { g = star + 1; n = ++mark } else return false
  }
  while (g < glob.length && glob[g] === '*') g++
  return g === glob.length
}

/** An admin is never limited by globs; others need a glob matching the pool. */
export function poolAllowed (role: Role, globs: readonly string[], pool: string): boolean {
  if (role === 'admin') return true
  return globs.some(g => globMatch(g, pool))
}
