import { access } from 'node:fs/promises'
import { join } from 'node:path'
import { requiresSignature } from '../../../protocol/auth/index.ts'
import { createOperatorKey, loadOperatorKey } from '../../security/operator-key.ts'
import type { OperatorKey } from '../../security/operator-key.ts'
import { actionOf, signApiRequest } from '../../security/request-auth.ts'
import type { ApiLikeRequest } from '../../security/request-auth.ts'
import type { Request } from '../messages.ts'
import type { ApiHandler } from '../server.ts'

// The console acts as an operator of its own. Its door is the access token, which proves a browser holds the URL,
// not that any operator key signed: so each daemon has a console key (STATE_DIR/console-operator.key, made at the
// first start with --console) and the console signs every change with it before the daemon's auth gate sees it.
// That key is trusted only where an admin said so (`sdpeer trust add KEY --role operator` on each host holding parts
// of the pools it should change); elsewhere its changes are refused, like any unknown operator's. An --insecure
// daemon lets an unknown key through, as it does unsigned requests.

export const CONSOLE_KEY_FILE = 'console-operator.key'

/** The console key of a state dir, made (0600) when absent. */
export async function loadOrCreateConsoleKey (stateDir: string): Promise<OperatorKey> {
  const file = join(stateDir, CONSOLE_KEY_FILE)
  try {
    await access(file)
  } catch {
    return await createOperatorKey(file)
  }
  return await loadOperatorKey(file)
}

/** What an admin runs on a host so that this console's changes are accepted there. */
export function trustCommand (publicText: string, stateDir?: string): string {
  return `sdpeer trust add ${publicText} --role operator${stateDir !== undefined ? ` --state-dir ${stateDir}` : ''}`
}

/** A console change refused for want of trust in the console key: says which key and how to trust it. */
export class ConsoleAuthError extends Error {
  override readonly name = 'ConsoleAuthError'
  /** The refusal's stable reason (unknown-key, role-not-allowed, pool-not-allowed...) when one is known. */
  readonly reason: string
  readonly consoleKey: string
  readonly pool?: string
  constructor (message: string, reason: string, consoleKey: string, pool?: string, options?: { cause?: unknown }) {
    super(`${message}. The console signs its changes with this host's console key ${consoleKey}; an admin allows ` +
      `it on every host of the pool with: ${trustCommand(consoleKey)}`, options)
    this.reason = reason
    this.consoleKey = consoleKey
    if (pool !== undefined) this.pool = pool
  }
}

// Reasons protocol/auth gives for a key that is not trusted enough: what an admin's `trust add` cures. A remote
// owner's refusal arrives inside another error's text (RpcError: "... AuthError: unknown-key: ..."), so it is read there.
const TRUST_REASONS = ['unknown-key', 'role-not-allowed', 'pool-not-allowed']
const REMOTE_REFUSAL = new RegExp(`\\bAuthError: (${TRUST_REASONS.join('|')})\\b`)

function trustRefusal (err: unknown): string | undefined {
  if (!(err instanceof Error)) return undefined
  const reason = (err as { reason?: unknown }).reason
  if (typeof reason === 'string') return TRUST_REASONS.includes(reason) ? reason : undefined
  return REMOTE_REFUSAL.exec(err.message)?.[1]
}

/**
 * The console's way into the daemon: every request that changes something is signed with the console key, then
 * given to `gated` (the daemon's handler behind its auth gate). A refusal for want of trust becomes a
 * ConsoleAuthError that names the key and the command that trusts it.
 */
export function consoleSigner (gated: ApiHandler, key: OperatorKey): ApiHandler {
  return {
    async handle (req, ctx) {
      const signed = requiresSignature(actionOf(req.op))
        // Through JSON first, as the CLI's client does: the body signed is the body every owner re-digests.
        ? signApiRequest(key.privateKey, JSON.parse(JSON.stringify(req)) as ApiLikeRequest) as unknown as Request
        : req
      try {
        return await gated.handle(signed, ctx)
      } catch (err) {
        const reason = trustRefusal(err)
        if (reason === undefined) throw err
        throw new ConsoleAuthError((err as Error).message, reason, key.publicText, (req as { pool?: string }).pool, { cause: err })
      }
    }
  }
}
