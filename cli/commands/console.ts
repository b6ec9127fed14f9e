import { parseArgs } from 'node:util'
import { dirname, join, resolve } from 'node:path'
import { readFile } from 'node:fs/promises'
import net from 'node:net'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { URL_FILE, readToken } from '../../node/api/console/token.ts'
import { CONSOLE_KEY_FILE, trustCommand } from '../../node/api/console/operator.ts'
import { loadOperatorKey } from '../../node/security/operator-key.ts'
import { TrustStore } from '../../node/security/trust-store.ts'

export const summary = 'print the URL (with its access token) of this host\'s management console'
export const usage = `sdpeer console [--state-dir DIR | --api PATH] [--no-check]

Prints the URL to open in a browser: the console a daemon started with \`sdpeer join --console ADDR:PORT\` serves,
with the access token from STATE_DIR/console.token. The URL is a credential: anyone who has it can change and
terminate pools, as far as the console's key is trusted: the console signs its changes with STATE_DIR/console-operator.key,
which hosts accept only after \`sdpeer trust add KEY --role operator\` (the key and command are printed on stderr).

  --state-dir DIR   the daemon's state dir
  --api PATH        the daemon's control socket (default $SDPEER_API): its directory is taken as the state dir
  --no-check        print the URL without checking that the console answers`

export async function run (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: { 'state-dir': { type: 'string' }, api: { type: 'string' }, 'no-check': { type: 'boolean', default: false } },
    allowPositionals: true,
    strict: true
  })
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`)
  const api = values.api ?? io.env.SDPEER_API
  const stateDir = values['state-dir'] !== undefined
    ? resolve(io.cwd, values['state-dir'])
    : api !== undefined && api !== '' ? dirname(resolve(io.cwd, api)) : undefined
  if (stateDir === undefined) throw new UsageError('which daemon? pass --state-dir DIR (or --api PATH / SDPEER_API when the socket is STATE_DIR/api.sock)')

  let url: string
  try {
    url = (await readFile(join(stateDir, URL_FILE), 'utf8')).trim()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err
    io.stderr.write(`sdpeer console: no console runs for ${stateDir}; start the daemon with \`sdpeer join ... --console 127.0.0.1:PORT\`\n`)
    return 1
  }
  let token: string
  try {
    token = await readToken(stateDir)
  } catch (err) {
    io.stderr.write(`sdpeer console: ${(err as Error).message}\n`)
    return 1
  }
  const parsed = URL.canParse(url) ? new URL(url) : undefined
  if (!parsed || parsed.protocol !== 'http:') {
    io.stderr.write(`sdpeer console: ${join(stateDir, URL_FILE)} does not hold a console URL\n`)
    return 1
  }
  if (!values['no-check'] && !(await answers(parsed.hostname.replace(/^\[|\]$/g, ''), Number(parsed.port)))) {
    io.stderr.write(`sdpeer console: nothing answers at ${url} (a daemon killed without stopping leaves this file); is the daemon running?\n`)
    return 1
  }
  io.stdout.write(`${url}?token=${token}\n`)
  await sayConsoleKey(stateDir, io)
  return 0
}

/** On stderr (stdout is the URL alone, for scripts): the key the console signs its changes with, and its trust. */
async function sayConsoleKey (stateDir: string, io: CliIO): Promise<void> {
  let key
  try { key = await loadOperatorKey(join(stateDir, CONSOLE_KEY_FILE)) } catch { return }
  let trusted: string | undefined
  try { trusted = (await TrustStore.open(stateDir)).lookup(key.publicText)?.role } catch { trusted = undefined }
  const here = trusted !== undefined ? `this host trusts it as ${trusted}` : 'this host does not trust it (an --insecure daemon runs its changes anyway)'
  io.stderr.write(`The console signs its changes with its console key ${key.publicText}; ${here}. Hosts that do not trust ` +
    `it refuse the console's changes to their parts; an admin allows them on each host with:\n  ${trustCommand(key.publicText)}\n`)
}

async function answers (host: string, port: number): Promise<boolean> {
  return await new Promise(resolveAnswer => {
    const s = net.connect({ host, port, timeout: 1000 })
    s.once('connect', () => { s.destroy(); resolveAnswer(true) })
    s.once('timeout', () => { s.destroy(); resolveAnswer(false) })
    s.once('error', () => { resolveAnswer(false) })
  })
}
