// Benchmark: one daemon (a real `sdpeer join` process, sim driver with boot time 0), one pool of N VMs each on its own
// cow overlay (one BashShell shared by all), deployed with --wait and then terminated through the control API.
//
// The headline figure, "sdpeer's own CPU per VM", comes from a V8 CPU profile of the daemon (node --cpu-prof):
//   (CPU samples taken during the deploy and terminate calls, as timed by this script on the same monotonic clock)
//   minus idle samples,
//   minus samples under execa / child_process frames (running host commands: qemu-img's fork/exec, pipes, reaping),
//   minus samples under node/drivers/ frames (the sim driver, standing in for the hypervisor),
//   divided by N.
// Everything else counts as sdpeer: engine, components, storage backends' logic, persistence (fsync'd state files),
// control API, logging, GC and V8's unattributed native time. Profiling itself adds a few percent, so the figure errs
// high. The host commands' own CPU (qemu-img...) is in other processes and never counted.
// Also printed, as cross-checks: the daemon's whole CPU time from /proc (host-command spawning and the sim included),
// and wall time minus the summed durations of the host commands (noisy on a loaded machine: it counts waiting for
// the CPU too). Command durations are read from the shared shell's log (`sdpeer logs POOL:myShell`), as measured by
// the daemon around each command.
// `--layout pools` deploys N pools of one VM each, one after the other, then terminates them one after the other.
// `--no-profile` skips the profile (then only the cross-checks are printed); `--profile-dir DIR` keeps the
// .cpuprofile for Chrome DevTools; `--daemon-log FILE` keeps the daemon's stderr.
// Usage: npx node simulations/bench/host-deploy.ts [--vms 200] [--layout pool|pools] [--no-profile] [--profile-dir DIR]

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
import { EXCLUDED, summariseProfiles } from './cpu-profile.ts'

const { values } = parseArgs({
  options: {
    vms: { type: 'string', default: '200' },
    layout: { type: 'string', default: 'pool' },
    profile: { type: 'boolean', default: true },
    'profile-dir': { type: 'string' },
    'daemon-log': { type: 'string' }
  },
  allowNegative: true
})
const N = Number(values.vms)
const LAYOUT = values.layout
if (!Number.isSafeInteger(N) || N < 1 || (LAYOUT !== 'pool' && LAYOUT !== 'pools')) {
  console.error('usage: host-deploy.ts [--vms N] [--layout pool|pools] [--no-profile] [--profile-dir DIR] [--daemon-log FILE]')
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

/** Microseconds on CLOCK_MONOTONIC: the clock of the daemon's CPU profile timestamps. */
const nowUs = (): number => Number(process.hrtime.bigint() / 1000n)

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
const profiling = values.profile || values['profile-dir'] !== undefined
const nodeArgs = profiling ? ['--cpu-prof', `--cpu-prof-dir=${profDir}`] : []
const daemon = spawn(process.execPath, [...nodeArgs, SDPEER, 'join', '--host', 'bench', '--state-dir', stateDir, '--driver', 'sim', '--insecure', '--capacity', `memory=${16 * N + 1024},vcpus=${N + 8}`], { stdio: ['ignore', 'ignore', 'pipe'] })
let daemonErr = ''
daemon.stderr.on('data', c => { daemonErr += String(c) })
const api = join(stateDir, 'api.sock')
let client: ApiClient | undefined
for (let i = 0; i < 200 && !client; i++) {
  try { client = await ApiClient.connect(api) } catch { await new Promise(resolve => setTimeout(resolve, 50)) }
}
if (!client) { console.error(`daemon did not start: ${daemonErr}`); process.exit(1) }
const pools = LAYOUT === 'pool' ? ['bench'] : Array.from({ length: N }, (_, i) => `bench${i}`)

/** Host commands of the shared shells so far, from their transcripts: "= exit 0 (N ms)" lines, one per command. */
async function commandTime (): Promise<{ ms: number, count: number, truncated: boolean }> {
  let ms = 0
  let count = 0
  let truncated = false
  for (const pool of pools) {
    const { lines } = await client!.call('logs', { pool, path: 'myShell', follow: false })
    // The engine keeps the last 5000 lines of a component's log; a transcript that long may have lost its start.
    if (lines.length >= 5000) truncated = true
    for (const line of lines) {
      const m = /= exit \d+ \((\d+(?:\.\d+)?) ms\)$/.exec(line)
      if (m) { ms += Number(m[1]); count++ }
    }
  }
  return { ms, count, truncated }
}

const cpu0 = await cpuMs(daemon.pid!)
const w0 = nowUs()
const t0 = performance.now()
for (const [i, pool] of pools.entries()) {
  const deployed = await client.call('deploy', { pool, config: configs[i]!, wait: true })
  if ('accepted' in deployed || deployed.state !== 'running') throw new Error(`deploy did not reach running: ${JSON.stringify(deployed).slice(0, 500)}`)
}
const t1 = performance.now()
const w1 = nowUs()
const cpu1 = await cpuMs(daemon.pid!)
// Read between the phases (outside the timed windows): a terminated pool's shell log goes with the pool.
const deployCommands = await commandTime()
const cpu1b = await cpuMs(daemon.pid!)
const w1b = nowUs()
const t1b = performance.now()
for (const pool of pools) {
  const terminated = await client.call('terminate', { pool, type: 'normal' })
  if (terminated.state !== 'terminated') throw new Error(`terminate ended ${terminated.state}`)
}
const t2 = performance.now()
const w2 = nowUs()
const cpu2 = await cpuMs(daemon.pid!)

client.close()
daemon.kill('SIGTERM')
await new Promise(resolve => daemon.once('exit', resolve))
if (values['daemon-log'] !== undefined) await writeFile(values['daemon-log'], daemonErr)
const profile = profiling ? await summariseProfiles(profDir, [[w0, w1], [w1b, w2]]) : undefined
await rm(dir, { recursive: true, force: true })

const per = (ms: number): string => (ms / N).toFixed(2)
const deployMs = t1 - t0
const terminateMs = t2 - t1b
const deployCpu = cpu1 - cpu0
const terminateCpu = cpu2 - cpu1b
console.log(`host-deploy: ${N} sim VMs with cow storage, one daemon, ${LAYOUT === 'pool' ? 'one pool, one shared BashShell' : `${N} pools of one VM, one after the other`}`)
console.log(`  deploy --wait     wall ${deployMs.toFixed(0)} ms (${per(deployMs)} ms/VM); ${deployCommands.count} host commands took ${deployCommands.ms.toFixed(0)} ms${deployCommands.truncated ? ' (transcript truncated: more)' : ''}; daemon CPU ${deployCpu.toFixed(0)} ms`)
// Cow teardown removes its overlay with unlink(2): terminating runs no host command.
console.log(`  terminate         wall ${terminateMs.toFixed(0)} ms (${per(terminateMs)} ms/VM); daemon CPU ${terminateCpu.toFixed(0)} ms`)
console.log(`  cross-checks per VM: daemon CPU (spawning and sim driver included) ${per(deployCpu + terminateCpu)} ms; wall minus host-command time ${per(deployMs + terminateMs - deployCommands.ms)} ms (includes waiting for a CPU on a loaded machine)`)
if (profile) {
  const total = [...profile.values()].reduce((x, y) => x + y, 0)
  console.log(`  daemon CPU profile, samples during the deploy and terminate calls (${total.toFixed(0)} ms of samples), ms per VM:`)
  console.log('    (a sample counts as host commands when any frame of its stack is in execa or child_process, as the hypervisor')
  console.log('     driver when any is in node/drivers/; everything else but idle is sdpeer, GC and unattributed native time included)')
  for (const [cat, ms] of [...profile.entries()].sort((a, b) => b[1] - a[1])) {
    console.log(`    ${EXCLUDED.has(cat) ? 'excluded ' : 'sdpeer   '} ${cat.padEnd(44)} ${per(ms)}`)
  }
  const own = [...profile.entries()].filter(([c]) => !EXCLUDED.has(c)).reduce((x, [, ms]) => x + ms, 0)
  console.log(`  sdpeer's own CPU per VM (profile samples minus idle, host-command spawning and the sim driver, / ${N}): ${per(own)} ms   [goal < 5 ms] ${own / N < 5 ? 'MET' : 'NOT MET'}`)
} else {
  console.log('  (--no-profile: no split; the headline figure needs the profile)')
}
