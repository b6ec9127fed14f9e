import { parseArgs } from 'node:util'
import { chmod, mkdir } from 'node:fs/promises'
import { hostname } from 'node:os'
import { join, resolve } from 'node:path'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { checkName } from '../../node/security/names.ts'
import { createOperatorKey, defaultOperatorKeyPath, loadOperatorKey, OperatorKeyError } from '../../node/security/operator-key.ts'
import type { OperatorKey } from '../../node/security/operator-key.ts'
import { createPoolKeyFile, loadPoolKey, PoolKeyError } from '../../node/security/pool-key.ts'
import type { PoolKey } from '../../node/security/pool-key.ts'
import { TrustStore, TrustStoreError } from '../../node/security/trust-store.ts'
import { NameError } from '../../node/security/names.ts'

export const summary = 'set up the first host of a mesh: pool key, operator key, trust store'
export const usage = `sdpeer init --state-dir DIR [--host NAME] [--operator-key FILE]

One command for a first host, so it never has to run --insecure:
  - creates the pool key STATE_DIR/pool.key (mode 0600), or keeps the one there;
  - creates your operator key (default $XDG_CONFIG_HOME/sdpeer/operator.key or ~/.config/sdpeer/operator.key),
    or uses the one you have;
  - writes the trust store STATE_DIR/trust.json naming that key admin;
then prints what to copy to the next hosts: the pool key file and the \`sdpeer trust add\` line.
Running it again changes nothing that exists already.

  --state-dir DIR        this host's state dir (created mode 0700)
  --host NAME            this host's name, for the printed commands (default: the machine's host name)
  --operator-key FILE    where your operator key is or goes

Exit status 1 when a file exists but is not valid (nothing is overwritten).`

export async function run (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { 'state-dir': { type: 'string' }, host: { type: 'string' }, 'operator-key': { type: 'string' } },
    allowPositionals: true,
    strict: true
  })
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`)
  if (values['state-dir'] === undefined) throw new UsageError('--state-dir DIR is required')
  const stateDir = resolve(io.cwd, values['state-dir'])
  const host = values.host ?? hostname()
  try {
    checkName('--host', host, 'host-or-ip')
  } catch (err) {
    if (err instanceof NameError) throw new UsageError(err.message)
    throw err
  }
  try {
    await mkdir(stateDir, { recursive: true, mode: 0o700 })
    await chmod(stateDir, 0o700)
    const poolFile = join(stateDir, 'pool.key')
    const [pool, poolNew] = await orCreate(() => loadPoolKey(poolFile), () => createPoolKeyFile(poolFile), PoolKeyError)
    const keyFile = values['operator-key'] !== undefined ? resolve(io.cwd, values['operator-key']) : defaultOperatorKeyPath(io.env)
    const [op, opNew] = await orCreate(() => loadOperatorKey(keyFile), () => createOperatorKey(keyFile), OperatorKeyError)
    const trust = await TrustStore.open(stateDir)
    const had = trust.lookup(op.publicText)
    if (had?.role !== 'admin') {
      trust.add(op.publicText, 'admin', ['*'], { comment: `sdpeer init on ${host}` })
      await trust.save()
    }
    report(io, { stateDir, host, poolFile, pool, poolNew, op, opNew, trustNew: had?.role !== 'admin', trustFile: trust.file })
    return 0
  } catch (err) {
    if (err instanceof PoolKeyError || err instanceof OperatorKeyError || err instanceof TrustStoreError) {
      io.stderr.write(`sdpeer init: ${err.message}\n`)
      return 1
    }
    throw err
  }
}

/** Loads the file; creates it only when it does not exist (a broken file is an error, never overwritten). */
async function orCreate<T> (load: () => Promise<T>, create: () => Promise<T>, errorClass: new (...a: never[]) => Error): Promise<[T, boolean]> {
  try {
    return [await load(), false]
  } catch (err) {
    const missing = err instanceof errorClass && ((err as Error).cause as NodeJS.ErrnoException | undefined)?.code === 'ENOENT'
    const noKey = err instanceof OperatorKeyError && /no operator key here/.test(err.message)
    if (!missing && !noKey) throw err
  }
  return [await create(), true]
}

interface Summary {
  stateDir: string, host: string, poolFile: string, pool: PoolKey, poolNew: boolean
  op: OperatorKey, opNew: boolean, trustNew: boolean, trustFile: string
}

function report (io: CliIO, s: Summary): void {
  const state = (isNew: boolean): string => isNew ? 'created' : 'kept'
  const lines = [
    `sdpeer init: host ${s.host} set up in ${s.stateDir}`,
    `  pool key      ${s.poolFile}  (${state(s.poolNew)}, fingerprint ${s.pool.fingerprint})`,
    `  operator key  ${s.op.file}  (${state(s.opNew)})`,
    `                ${s.op.publicText}`,
    `  trust store   ${s.trustFile}  (${s.trustNew ? 'names your key admin' : 'already names your key admin'})`,
    ...s.pool.warnings.map(w => `  warning: ${w}`),
    '',
    'Start this host:',
    `  sdpeer join --host ${s.host} --state-dir ${s.stateDir} --pool-key ${s.poolFile} --driver DRIVER`,
    '',
    'On each next host: copy the pool key there (keep it secret, mode 0600, e.g. scp -p), then run:',
    `  sdpeer trust add ${s.op.publicText} --role admin --state-dir STATE_DIR`,
    `  sdpeer join --host NAME --state-dir STATE_DIR --pool-key pool.key --bootstrap ADDRESS_OF_${s.host} --driver DRIVER`,
    ''
  ]
  io.stdout.write(lines.join('\n'))
}
