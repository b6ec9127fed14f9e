import { parseArgs } from 'node:util'
import { resolve } from 'node:path'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { createOperatorKey, defaultOperatorKeyPath, loadOperatorKey, OperatorKeyError } from '../../node/security/operator-key.ts'
import { createPoolKeyFile, generatePoolKeyText, PoolKeyError } from '../../node/security/pool-key.ts'

export const summary = 'create an operator signing key or a pool (private network) key'
export const usage = `sdpeer keygen operator [--out FILE] [--public]
sdpeer keygen pool [--out FILE]

operator  Creates an Ed25519 operator key (PKCS#8 PEM, mode 0600) at FILE, by default
          $XDG_CONFIG_HOME/sdpeer/operator.key or ~/.config/sdpeer/operator.key, and prints its public key
          (ed25519:BASE64URL) on stdout: give it to \`sdpeer trust add\` on every host. Never overwrites a key.
          --public   print the public key of the existing key instead of creating one
pool      Prints a new pool key (libp2p private-network pre-shared key, swarm.key format) on stdout, or writes it
          to FILE with mode 0600: \`sdpeer keygen pool > pool.key\`. Every host of the mesh needs the same file
          (\`sdpeer join --pool-key FILE\`); a peer without it cannot connect.

Exit status 1 when the key cannot be written (e.g. FILE exists).`

export async function run (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { out: { type: 'string' }, public: { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true
  })
  const [kind, ...extra] = positionals
  if (extra.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(extra[0])}`)
  try {
    if (kind === 'operator') return await operator(values.out, values.public, io)
    if (kind === 'pool') {
      if (values.public) throw new UsageError('--public is for operator keys')
      return await pool(values.out, io)
    }
  } catch (err) {
    if (err instanceof OperatorKeyError || err instanceof PoolKeyError) {
      io.stderr.write(`sdpeer keygen: ${err.message}\n`)
      return 1
    }
    throw err
  }
  throw new UsageError(kind === undefined ? 'say which key: operator or pool' : `unknown key kind ${JSON.stringify(kind)} (operator or pool)`)
}

async function operator (out: string | undefined, publicOnly: boolean, io: CliIO): Promise<number> {
  const file = out !== undefined ? resolve(io.cwd, out) : defaultOperatorKeyPath(io.env)
  if (publicOnly) {
    io.stdout.write((await loadOperatorKey(file)).publicText + '\n')
    return 0
  }
  const key = await createOperatorKey(file)
  io.stdout.write(key.publicText + '\n')
  io.stderr.write(`operator key written to ${file} (mode 0600). On each host, trust it with:\n` +
    `  sdpeer trust add ${key.publicText} --role admin --state-dir STATE_DIR\n`)
  return 0
}

async function pool (out: string | undefined, io: CliIO): Promise<number> {
  if (out === undefined) {
    io.stdout.write(generatePoolKeyText())
    if (io.stdout.isTTY === true) io.stderr.write('(redirect it to a file: sdpeer keygen pool > pool.key; chmod 600 pool.key)\n')
    return 0
  }
  const file = resolve(io.cwd, out)
  const key = await createPoolKeyFile(file)
  io.stderr.write(`pool key written to ${file} (mode 0600, fingerprint ${key.fingerprint}); copy it to every host of the mesh\n`)
  return 0
}
