// Benchmark of `sdpeer check` on generated pools of 100, 1,000 and 10,000 VMs spread over 200 physical hosts'
// compounds, each VM with its own storage backend, `extends` chains (VM -> DefaultXenDomain -> XenDomain -> Prim)
// and LAZY references to the host's shell and the VM's backend, as in the SmartDomains tutorial.
// Each size runs the real `sdpeer` command as users do (cli/sdpeer.js through its #! line, so with the launcher's
// V8 flag and compile cache, Node 24 first on PATH as npx puts it) as a child process under /usr/bin/time -v (peak
// RSS), three times after one warm-up run that fills the compile cache; the best wall time, its CPU time and its
// RSS are printed, and beside them the least CPU time and the RSS range of all runs: on a machine shared with other
// work the wall time (and with it the CPU time of the fastest run) follows the load, the least CPU time much less.
// Usage: npx node simulations/bench/sf-resolve.ts [VMS...]   (SF_BENCH_RUNS=N for N runs per size, default 3)

import { mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'

const HOSTS = 200
const CLI = fileURLToPath(new URL('../../cli/sdpeer.js', import.meta.url))
// `#!/usr/bin/env -S node ...` must find Node 24: the `node` package's binary, as under npx.
const BIN = fileURLToPath(new URL('../../node_modules/.bin', import.meta.url))
const ENV = { PATH: `${BIN}:${process.env.PATH ?? ''}` }

export function generatePool (vms: number): string {
  const out: string[] = [
    '#include "org/smartfrog/components.sf"',
    '#include "ch/cern/openlab/smartdomains/components.sf"',
    '#include "org/smartfrog/services/shellscript/components.sf"',
    '',
    'DefaultXenDomain extends XenDomain {',
    '    shell LAZY ATTRIB myShell;',
    '    kernel "/boot/vmlinuz-2.6-xen";',
    '    gateway "10.0.0.1";',
    '    netmask "255.255.0.0";',
    '}',
    'PhysicalHost extends Compound {',
    '    sfSyncTerminate true;',
    '    myShell extends BashShell;',
    '}',
    'sfConfig extends Compound {',
    '  sfSyncTerminate true;'
  ]
  const perHost = Math.ceil(vms / HOSTS)
  let vm = 0
  for (let h = 0; h < HOSTS && vm < vms; h++) {
    out.push(`  host${h} extends PhysicalHost {`, `    sfProcessHost "host${h}.example.org";`)
    for (let k = 0; k < perHost && vm < vms; k++, vm++) {
      out.push(
        `    disk${vm} extends LVMStorageBackend {`,
        '      shell LAZY ATTRIB myShell;',
        `      domainName "vm${vm}";`,
        '      baseImage "/data/xen/slc3.img";',
        '    }',
        `    vm${vm} extends DefaultXenDomain {`,
        `      ip "10.${1 + (vm >> 16)}.${(vm >> 8) & 255}.${vm & 255}";`,
        `      hostname "vm${vm}.example.org";`,
        `      storageBackend LAZY ATTRIB disk${vm};`,
        `      memory ${vm % 3 === 0 ? 1024 : 512};`,
        '    }')
    }
    out.push('  }')
  }
  out.push('}', '')
  return out.join('\n')
}

interface Run { seconds: number, cpu: number, rssMiB: number }

async function runOnce (file: string): Promise<Run> {
  const r = await execa('/usr/bin/time', ['-v', CLI, 'check', '--json', file], { reject: false, stdout: 'ignore', env: ENV })
  if (r.exitCode !== 0) throw new Error(`sdpeer check failed (${r.exitCode}):\n${r.stderr.slice(0, 2000)}`)
  const rss = /Maximum resident set size \(kbytes\): ([0-9]+)/.exec(r.stderr)
  const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:([0-9]+):)?([0-9]+):([0-9.]+)/.exec(r.stderr)
  if (rss === null || wall === null) throw new Error(`cannot read /usr/bin/time output:\n${r.stderr.slice(-1500)}`)
  const seconds = Number(wall[1] ?? 0) * 3600 + Number(wall[2]) * 60 + Number(wall[3])
  // CPU time (user + system) is printed too: on a shared machine it varies less than the wall time.
  const cpu = Number(/User time \(seconds\): ([0-9.]+)/.exec(r.stderr)?.[1] ?? NaN) + Number(/System time \(seconds\): ([0-9.]+)/.exec(r.stderr)?.[1] ?? NaN)
  return { seconds, cpu, rssMiB: Number(rss[1]) / 1024 }
}

async function main (): Promise<void> {
  const sizes = process.argv.slice(2).map(Number).filter(n => n > 0)
  const dir = mkdtempSync(join(tmpdir(), 'sf-bench-'))
  try {
    // Baseline: the CLI printing its version (Node start-up and module loading, no .sf work).
    const base = await execa('/usr/bin/time', ['-v', CLI, 'version'], { reject: false, stdout: 'ignore', env: ENV })
    const baseRss = Number(/Maximum resident set size \(kbytes\): ([0-9]+)/.exec(base.stderr)?.[1] ?? 0) / 1024
    console.log(`node ${process.version}; baseline \`sdpeer version\` peak RSS ${baseRss.toFixed(1)} MiB`)
    console.log('VMs\ttext\tbest wall (s)\tits CPU (s)\tits peak RSS (MiB)\tleast CPU (s)\tRSS range (MiB)\tall runs wall (s)')
    for (const vms of sizes.length > 0 ? sizes : [100, 1000, 10000]) {
      const file = join(dir, `pool-${vms}.sf`)
      writeFileSync(file, generatePool(vms))
      const runs: Run[] = []
      await runOnce(file)
      const n = Math.max(1, Number(process.env.SF_BENCH_RUNS ?? 3) || 3)
      for (let i = 0; i < n; i++) runs.push(await runOnce(file))
      const best = runs.reduce((a, b) => (b.seconds < a.seconds ? b : a))
      const leastCpu = Math.min(...runs.map(r => r.cpu))
      const rss = runs.map(r => r.rssMiB)
      const size = statSync(file).size
      console.log(`${vms}\t${(size / 1e6).toFixed(2)} MB\t${best.seconds.toFixed(2)}\t${best.cpu.toFixed(2)}\t${best.rssMiB.toFixed(1)}\t${leastCpu.toFixed(2)}\t${Math.min(...rss).toFixed(1)}–${Math.max(...rss).toFixed(1)}\t${runs.map(r => r.seconds.toFixed(2)).join(' ')}`)
    }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (import.meta.main) await main()
