import { parseArgs } from 'node:util'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { poolText } from '../lib/status-format.ts'
import { DemoError, startDemo } from '../../node/demo/demo.ts'
import type { RunningDemo } from '../../node/demo/demo.ts'

export const summary = 'start a local three-host mesh, deploy the tutorial\'s pools, tear it all down on Ctrl-C'
export const usage = `sdpeer demo [--driver sim|qemu] [--hosts N] [--keep-dir] [--insecure]

Starts N \`sdpeer join\` daemons on loopback (machine9.cern.ch, machine10.cern.ch, machine11.cern.ch...), each with
its own state dir in a new temporary directory, a shared pool key and one operator key trusted by every host (as
\`sdpeer init\` and \`sdpeer trust add\` would set up). From the last host it deploys
  - examples/tutorial/distVirtualPool.sf as pool "tutorial" (computer1 on machine9, computer2 on machine10, the
    root and its DeployManagement console on the deploying host), and
  - examples/scheduler/dispatch.sf as pool "scheduled" (the scheduler chooses the hosts of its four VMs),
with only the example's placeholders replaced (the /data/xen image by a small generated one, the 999.* addresses by
198.51.100.*, the scheduler's host1..3 by the demo's hosts). Then it prints the console URL (with its token) and the
pools' status, and prints "sdpeer demo: ready". On Ctrl-C (SIGINT), SIGTERM or SIGHUP it terminates the pools,
stops the daemons and removes the directory: no process, socket or file is left.

LVM volumes are made by the stand-ins of node/demo/bin (sparse files; device-mapper does not run everywhere). Each
host's console key is trusted as operator on every host, so the consoles may change and terminate pools.

  --driver NAME   hypervisor driver of the daemons: sim (default), or qemu: real tiny guests (examples/qemu,
                  built once into .cache/guest by examples/qemu/make-base.sh; needs qemu-system-x86, qemu-utils,
                  e2fsprogs, cpio, and KVM for speed). With qemu the demo boots examples/qemu/oneGuest.sf on
                  machine9 and on machine10 (pools guest-machine9, guest-machine10, deployed from the last host
                  with the root placed by --at), each guest answering on a forwarded loopback port, instead of
                  the tutorial's Xen-era pools (whose /boot/vmlinuz-2.6-xen no qemu can boot).
  --hosts N       number of hosts (default 3; at least 2: the tutorial needs machine9 and machine10)
  --keep-dir      keep the directory (state dirs, daemon logs, keys) after stopping, for a look inside
  --insecure      start the daemons with \`sdpeer join --insecure\` (no pool key, no trust store, unsigned requests)`

export async function run (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    options: {
      driver: { type: 'string', default: 'sim' },
      hosts: { type: 'string', default: '3' },
      'keep-dir': { type: 'boolean', default: false },
      insecure: { type: 'boolean', default: false }
    },
    allowPositionals: true,
    strict: true
  })
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`)
  if (values.driver !== 'sim' && values.driver !== 'qemu') throw new UsageError(`--driver ${values.driver}: the demo runs with sim or qemu`)
  if (!/^\d+$/.test(values.hosts)) throw new UsageError(`--hosts ${values.hosts}: expected a number`)
  const say = (line: string): void => { io.stdout.write(`sdpeer demo: ${line}\n`) }

  // Signals are taken from the start: a Ctrl-C while the daemons are still coming up must tear down too.
  let signalled: (sig: string) => void = () => {}
  const signal = new Promise<string>(resolve => { signalled = resolve })
  const aborter = new AbortController()
  const onSignal = (sig: NodeJS.Signals): void => { aborter.abort(); signalled(sig) }
  // SIGHUP too: closing the terminal must not leave the daemons (in their own process groups) running.
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']
  for (const s of signals) process.on(s, onSignal)
  let demo: RunningDemo | undefined
  try {
    const starting = startDemo({ driver: values.driver, hosts: Number(values.hosts), keepDir: values['keep-dir'], insecure: values.insecure, say, signal: aborter.signal })
    const first = await Promise.race([starting.then(d => ({ demo: d })), signal.then(sig => ({ sig }))])
    if ('sig' in first) {
      say(`${first.sig} while starting; tearing down`)
      // The start stops at its next step and tears down what it started; one that had finished is stopped below.
      demo = await starting.catch(() => undefined)
      if (demo === undefined) say('stopped; nothing left behind')
      return 130
    }
    demo = first.demo
    say(`console  ${demo.consoleUrl}`)
    say(`hosts    ${demo.hosts.map(h => `${h.name} (pid ${h.pid}, api ${h.apiPath})`).join('\n                     ')}`)
    for (const p of await demo.status()) io.stdout.write(poolText(p) + '\n')
    const failed = demo.pools.filter(p => p.error !== undefined)
    say(`ready in ${demo.seconds} s${failed.length > 0 ? ` (not deployed: ${failed.map(p => p.pool).join(', ')})` : ''}; try SDPEER_API=${demo.hosts.at(-1)!.apiPath}${values.insecure ? '' : ` SDPEER_OPERATOR_KEY=${demo.operatorKeyFile}`} sdpeer ls; Ctrl-C to stop`)
    const sig = await signal
    say(`${sig}: terminating the pools and stopping the daemons`)
    return 0
  } catch (err) {
    if (err instanceof DemoError || (err as Error).name === 'DemoHostError' || (err as Error).name === 'DemoPoolError') {
      io.stderr.write(`sdpeer demo: ${(err as Error).message}\n`)
      return 1
    }
    throw err
  } finally {
    if (demo !== undefined) {
      await demo.stop()
      say('stopped; nothing left behind')
    }
    for (const s of signals) process.off(s, onSignal)
  }
}
