import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { isPoolGlob, isPublicKeyText, isRole } from '../../protocol/auth/index.ts'
import { TrustStore, TrustStoreError } from '../../node/security/trust-store.ts'

export const summary = 'list, add or remove the operator keys this host trusts'
export const usage = `sdpeer trust add KEY --role admin|operator|viewer [--pools GLOB]... [--comment TEXT] [--state-dir DIR]
sdpeer trust ls [--json] [--state-dir DIR]
sdpeer trust rm KEY [--force] [--state-dir DIR]

Edits STATE_DIR/trust.json (mode 0600, written crash-safe); a running daemon reads the change before its next
request. KEY is an operator public key, ed25519:BASE64URL, as \`sdpeer keygen operator\` prints it.

  --role ROLE      viewer: read only (status, get, logs, hosts, ls); operator: also deploy, terminate and set on
                   pools matching its globs, and build images; admin: everything, including image-delete, hosts
                   forget and trust changes
  --pools GLOB     pool names this key may act on ("*" any run, "?" one character); repeatable; default "*"
  --comment TEXT   a note kept with the key (whose it is)
  --json           ls: [{"key", "role", "pools", "added", "comment"?}]
  --force          rm: remove even the last admin key
  --state-dir DIR  the host's state dir (default: $SDPEER_STATE_DIR)

Exit status 1 when the trust store cannot be read or written, or KEY is not in it (rm).`

export async function run (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      role: { type: 'string' },
      pools: { type: 'string', multiple: true },
      comment: { type: 'string' },
      json: { type: 'boolean', default: false },
      force: { type: 'boolean', default: false },
      'state-dir': { type: 'string' }
    },
    allowPositionals: true,
    strict: true
  })
  const [sub, ...args] = positionals
  const dir = values['state-dir'] ?? io.env.SDPEER_STATE_DIR
  if (dir === undefined || dir === '') throw new UsageError('--state-dir DIR (or SDPEER_STATE_DIR) is required')
  const stateDir = resolve(io.cwd, dir)
  try {
    switch (sub) {
      case 'add': return await add(stateDir, args, values, io)
      case 'ls': case 'list':
        if (args.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(args[0])}`)
        return await list(stateDir, values.json, io)
      case 'rm': case 'remove': return await remove(stateDir, args, values.force, io)
      default: throw new UsageError(sub === undefined ? 'say what: add, ls or rm' : `unknown sub-command ${JSON.stringify(sub)}`)
    }
  } catch (err) {
    if (err instanceof TrustStoreError) {
      io.stderr.write(`sdpeer trust: ${err.message}\n`)
      return 1
    }
    throw err
  }
}

function oneKey (args: string[]): string {
  if (args.length !== 1) throw new UsageError('expected exactly one KEY')
  const text = args[0]
  if (!isPublicKeyText(text)) throw new UsageError(`${JSON.stringify(String(text).slice(0, 80))} is not an operator public key (ed25519: and 43 base64url characters)`)
  return text
}

async function add (stateDir: string, args: string[], values: { role?: string, pools?: string[], comment?: string }, io: CliIO): Promise<number> {
  const key = oneKey(args)
  if (!isRole(values.role)) throw new UsageError('--role admin|operator|viewer is required')
  const pools = values.pools ?? ['*']
  for (const g of pools) if (!isPoolGlob(g)) throw new UsageError(`--pools ${JSON.stringify(g)}: a glob of letters, digits, "_.-", "*" and "?"`)
  const store = await TrustStore.open(stateDir)
  const isNew = store.add(key, values.role, pools, values.comment !== undefined ? { comment: values.comment } : {})
  await store.save()
  io.stdout.write(`${isNew ? 'trusted' : 'updated'} ${key} as ${values.role}${values.role === 'admin' ? '' : ` on pools ${pools.join(' ')}`}\n`)
  return 0
}

async function list (stateDir: string, json: boolean, io: CliIO): Promise<number> {
  const store = await TrustStore.open(stateDir)
  const entries = store.list()
  if (json) {
    io.stdout.write(JSON.stringify(entries) + '\n')
    return 0
  }
  if (!store.exists) {
    io.stderr.write(`no trust store in ${stateDir} (sdpeer trust add KEY --role admin, or sdpeer init)\n`)
    return 0
  }
  const rows = entries.map(e => [e.role, e.role === 'admin' ? '*' : e.pools.join(','), e.key, e.comment ?? ''])
  const head = ['ROLE', 'POOLS', 'KEY', 'COMMENT']
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map(r => r[i].length)))
  for (const r of [head, ...rows]) io.stdout.write(r.map((c, i) => i === r.length - 1 ? c : c.padEnd(widths[i])).join('  ').trimEnd() + '\n')
  return 0
}

async function remove (stateDir: string, args: string[], force: boolean, io: CliIO): Promise<number> {
  const key = oneKey(args)
  const store = await TrustStore.open(stateDir)
  const entry = store.lookup(key)
  if (entry === undefined) {
    io.stderr.write(`sdpeer trust: ${key} is not in ${store.file}\n`)
    return 1
  }
  // Removing the last admin locks everyone out of trust changes over the mesh; make that deliberate.
  if (entry.role === 'admin' && !force && store.list().filter(e => e.role === 'admin').length === 1) {
    io.stderr.write(`sdpeer trust: ${key} is the last admin key; pass --force to remove it anyway\n`)
    return 1
  }
  store.remove(key)
  await store.save()
  io.stdout.write(`removed ${key}\n`)
  return 0
}
