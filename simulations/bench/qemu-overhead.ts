import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { QemuDriver } from '../../node/drivers/qemu/index.ts'
import type { DomainSpec } from '../../node/drivers/types.ts'
import { ensureGuest, waitForLine } from '../guest/guest.ts'

// What the qemu driver adds to a guest's boot: time from driver.start() to the guest's ready line on its serial
// console, against the very same qemu command line (driver.launchCommand) started by hand in the same run, twice:
// as a plain child, and detached (its own session, as the driver starts it so guests outlive the daemon). On a
// loaded host with the kernel's autogroup scheduling, a new session is its own CPU group, which alone can move
// boot times by seconds; comparing with the detached hand start isolates what is sdpeer's own. Order rotates per
// run so load changes do not always favour one side. Prints every run, the medians and the ratios.
//   npx node simulations/bench/qemu-overhead.ts [RUNS=3] [ACCEL=tcg]

const runs = Number(process.argv[2] ?? 3)
const accel = (process.argv[3] ?? 'tcg') as 'tcg' | 'kvm'
const guest = await ensureGuest()
const stateDir = await mkdtemp(join(tmpdir(), 'sdpeer-bench-qemu-'))
const driver = new QemuDriver({ stateDir, accel })
const spec = (name: string): DomainSpec => ({
  name, memoryMiB: 128, vcpus: 1, kernel: guest.kernel, ramdisk: guest.initrd, hostname: name, extra: 'quiet', disks: [], options: {}
})
const READY = /SDPEER-GUEST-READY/
const startMs: number[] = []

async function viaDriver (name: string): Promise<number> {
  const t0 = performance.now()
  const h = await driver.start(spec(name))
  startMs.push(performance.now() - t0)
  await waitForLine(async () => await readFile(driver.paths(name).serialLog, 'utf8'), READY, 120_000)
  const ms = performance.now() - t0
  await driver.destroy(h)
  return ms
}

async function byHand (name: string, detached: boolean): Promise<number> {
  const paths = { qmpSocket: join(stateDir, `${name}.qmp`), serialLog: join(stateDir, `${name}.serial.log`) }
  const { file, args } = await driver.launchCommand(spec(name), paths) // exactly what the driver would run
  const t0 = performance.now()
  const child = execa(file, args, { stdio: 'ignore', reject: false, detached })
  await waitForLine(async () => await readFile(paths.serialLog, 'utf8'), READY, 120_000)
  const ms = performance.now() - t0
  child.kill('SIGKILL')
  await child
  return ms
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]! }
const results = { driver: [] as number[], hand: [] as number[], handDetached: [] as number[] }
const kinds = ['hand', 'handDetached', 'driver'] as const
try {
  for (let i = 0; i < runs; i++) {
    for (let k = 0; k < kinds.length; k++) {
      const kind = kinds[(i + k) % kinds.length]!
      const name = `${kind.toLowerCase()}${i}`
      results[kind].push(kind === 'driver' ? await viaDriver(name) : await byHand(name, kind === 'handDetached'))
    }
    console.log(`run ${i + 1}: by hand ${Math.round(results.hand[i]!)} ms, by hand detached ${Math.round(results.handDetached[i]!)} ms, ` +
      `via driver ${Math.round(results.driver[i]!)} ms`)
  }
  const [md, mh, mhd] = [median(results.driver), median(results.hand), median(results.handDetached)]
  console.log(`qemu-overhead (${accel}, ${runs} runs, start to ready line, medians): by hand ${Math.round(mh)} ms, ` +
    `by hand detached ${Math.round(mhd)} ms, via driver ${Math.round(md)} ms; ratio driver/hand-detached ${(md / mhd).toFixed(3)}, ` +
    `driver/hand ${(md / mh).toFixed(3)}; driver.start() itself (spawn to QMP "running"): ${Math.round(median(startMs))} ms`)
} finally {
  await rm(stateDir, { recursive: true, force: true })
}
