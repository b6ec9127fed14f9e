// Benchmark: one daemon (a real `sdpeer join` process, sim driver with boot time 0), one pool of N VMs each on its own
// cow overlay, deployed with --wait and then terminated through the control API. Prints the time per VM that sdpeer
// itself spends, two ways:
//   - daemon CPU: user+system time of the daemon process (from /proc/PID/stat), which excludes the host commands
//     (qemu-img, mkswap...: child processes) but includes the sim driver, an in-process stand-in for the hypervisor;
//   - wall minus commands: wall time of deploy+terminate minus the summed durations of the shell commands the
//     engine reports ("= exit 0 (N ms)"). With one shared BashShell the commands run one at a time, so this is the
//     time the pool spends waiting on sdpeer rather than on commands (an upper bound when sdpeer work overlaps them).
// Two layouts: `--layout pool` (default) puts the N VMs in one pool; `--layout pools` deploys N pools of one VM each,
// one after the other, and then terminates them one after the other (per-pool costs instead of per-tree costs).
// `--profile` runs the daemon under `node --cpu-prof` and splits its CPU by layer (see cpu-profile.ts).
// Usage: npx node simulations/bench/host-deploy.ts [--vms 200] [--layout pool|pools] [--profile] [--profile-dir DIR]

import { spawn, execFileSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import { ApiClient } from '../../node/api/client.ts'
import { checkFile } from '../../node/sf/index.ts'
import { formatDiagnostic } from '../../node/sf/diagnostics.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'
import { summariseProfiles } from './cpu-profile.ts'

const { values } = parseArgs({ options: { vms: { type: 'string', default: '200' }, layout: { type: 'string', default: 'pool' }, profile: { type: 'boolean', default: false }, 'profile-dir': { type: 'string' } } })
const N = Number(values.vms)
const LAYOUT = values.layout
if (!Number.isSafeInteger(N) || N < 1 || (LAYOUT !== 'pool' && LAYOUT !== 'pools')) {
  console.error('usage: host-deploy.ts [--vms N] [--layout pool|pools]')
  process.exit(2)
}
const SDPEER = fileURLToPath(new URL('../../cli/sdpeer.js', import.meta.url))
const TICKS = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())

async function cpuMs (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  // Fields after the parenthesised command name; utime and stime are fields 14 and 15 (1-based).
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(f[11]) + Number(f[12])) * 1000 / TICKS
}

function poolText (base: string, vms: number, offset = 0): string {
  const parts = ['#include "org/smartfrog/components.sf"', '#include "ch/cern/openlab/smartdomains/components.sf"',
    '#include "org/smartfrog/services/shellscript/components.sf"', '', 'sfConfig extends Compound {', '    myShell extends BashShell;']
  for (let i = offset; i < offset + vms; i++) {
    parts.push(`    cow${i} extends CowStorageBackend { shell LAZY ATTRIB myShell; domainName "bench${i}"; baseImage ${JSON.stringify(base)}; swapSize 0; }`)
    parts.push(`    vm${i} extends VM { shell LAZY ATTRIB myShell; kernel "/boot/vmlinuz"; ip "10.1.${i >> 8}.${i & 255}"; hostname "bench${i}"; memory 16; storageBackend LAZY ATTRIB cow${i}; domainLivenessCheck false; }`)
  }
  parts.push('}', '')
  return parts.join('\n')
}

const dir = await mkdtemp(join(tmpdir(), 'sdpeer-bench-'))
const stateDir = join(dir, 'state')
const base = join(dir, 'base.img')
execFileSync('truncate', ['-s', '16M', base])
// Resolved here, before the clock starts: the bench measures the daemon, not the client's resolver.
const configs: SfJsonObject[] = []
for (let p = 0; p < (LAYOUT === 'pool' ? 1 : N); p++) {
  await writeFile(join(dir, 'pool.sf'), LAYOUT === 'pool' ? poolText(base, N) : poolText(base, 1, p))
  const checked = checkFile(join(dir, 'pool.sf'), { cwd: dir })
  if (!checked.config) {
    for (const d of checked.diagnostics) console.error(formatDiagnostic(d))
    process.exit(1)
  }
  configs.push(checked.config)
}

// --profile-dir keeps the .cpuprofile (open it in Chrome DevTools) instead of a temp dir removed at the end.
const profDir = values['profile-dir'] ?? join(dir, 'profile')
const nodeArgs = values.profile || values['profile-dir'] !== undefined ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []
const daemon = spawn(process.execPath, [...nodeArgs, SDPEER, 'join', '--host', 'bench', '--state-dir', stateDir, '--driver', 'sim', '--capacity', `memory=${16 * N + 1024},vcpus=${N + 8}`], { stdio: ['ignore', 'ignore', 'pipe'] })
let daemonErr = ''
daemon.stderr.on('data', c => { daemonErr += String(c) })
const api = join(stateDir, 'api.sock')
let client: ApiClient | undefined
for (let i = 0; i < 200 && !client; i++) {
  try { client = await ApiClient.connect(api) } catch { await new Promise(resolve => setTimeout(resolve, 50)) }
}
if (!client) { console.error(`daemon did not start: ${daemonErr}`); process.exit(1) }

// Command durations come from the daemon's own log (JSON lines on stderr), not from an API subscription, so that
// measuring them adds no work to the daemon.
let commandMs = 0
let commands = 0
let partial = ''
daemon.stderr.on('data', c => {
  const lines = (partial + String(c)).split('\n')
  partial = lines.pop() ?? ''
  for (const line of lines) {
    const m = /"msg":"= exit \d+ \((\d+(?:\.\d+)?) ms\)"/.exec(line)
    if (m && line.includes('"path":"myShell"')) { commandMs += Number(m[1]); commands++ }
  }
})
/** Lets the daemon's log lines of a finished phase arrive before they are counted. */
const settle = async (): Promise<void> => { await new Promise(resolve => setTimeout(resolve, 200)) }
const pools = LAYOUT === 'pool' ? ['bench'] : Array.from({ length: N }, (_, i) => `bench${i}`)

const cpu0 = await cpuMs(daemon.pid!)
const t0 = performance.now()
for (const [i, pool] of pools.entries()) {
  const deployed = await client.call('deploy', { pool, config: configs[i]!, wait: true })
  if ('accepted' in deployed || deployed.state !== 'running') throw new Error(`deploy did not reach running: ${JSON.stringify(deployed).slice(0, 500)}`)
}
const t1 = performance.now()
const cpu1 = await cpuMs(daemon.pid!)
await settle()
const deployCommandMs = commandMs
const deployCommands = commands
const cpu1b = await cpuMs(daemon.pid!)
const t1b = performance.now()
for (const pool of pools) {
  const terminated = await client.call('terminate', { pool, type: 'normal' })
  if (terminated.state !== 'terminated') throw new Error(`terminate ended ${terminated.state}`)
}
const t2 = performance.now()
const cpu2 = await cpuMs(daemon.pid!)
await settle()

client.close()
daemon.kill('SIGTERM')
await new Promise(resolve => daemon.once('exit', resolve))
const profile = nodeArgs.length > 0 ? await summariseProfiles(profDir) : undefined
await rm(dir, { recursive: true, force: true })

const per = (ms: number): string => (ms / N).toFixed(2)
const deployMs = t1 - t0
const terminateMs = t2 - t1b
const deployCpu = cpu1 - cpu0
const terminateCpu = cpu2 - cpu1b
const termCommandMs = commandMs - deployCommandMs
console.log(`host-deploy: ${N} sim VMs with cow storage, one daemon, ${LAYOUT === 'pool' ? 'one pool, one shared BashShell' : `${N} pools of one VM, one after the other`}`)
console.log(`  deploy --wait     wall ${deployMs.toFixed(0)} ms (${per(deployMs)} ms/VM); ${deployCommands} host commands took ${deployCommandMs.toFixed(0)} ms; daemon CPU ${deployCpu.toFixed(0)} ms`)
console.log(`  terminate         wall ${terminateMs.toFixed(0)} ms (${per(terminateMs)} ms/VM); ${commands - deployCommands} host commands took ${termCommandMs.toFixed(0)} ms; daemon CPU ${terminateCpu.toFixed(0)} ms`)
console.log(`  sdpeer per VM, deploy+terminate: daemon CPU ${per(deployCpu + terminateCpu)} ms; wall minus commands ${per(deployMs + terminateMs - commandMs)} ms   [goal < 5 ms]`)
if (profile) {
  console.log('  daemon CPU by layer over the whole run (start-up included), ms per VM:')
  for (const [cat, ms] of [...profile.entries()].sort((a, b) => b[1] - a[1])) {
    if (cat !== 'idle') console.log(`    ${cat.padEnd(48)} ${per(ms)}`)
  }
  const own = [...profile.entries()].filter(([c]) => c !== 'idle' && c !== 'host commands (spawn)' && c !== 'start-up (module loading)').reduce((a, [, ms]) => a + ms, 0)
  console.log(`  sdpeer per VM without command spawning and start-up (CPU): ${per(own)} ms   [goal < 5 ms]`)
}
