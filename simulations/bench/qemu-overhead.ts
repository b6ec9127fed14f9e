import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { QemuDriver } from '../../node/drivers/qemu/index.ts'
import type { DomainSpec } from '../../node/drivers/types.ts'
import { ensureGuest, waitForLine } from '../guest/guest.ts'

// What the qemu driver adds to a guest's boot: time from driver.start() to the guest's ready line on its serial
// console, against the very same qemu command line started by hand (execa, no driver) in the same run. Runs
// alternate so machine load hits both alike; prints each run, the medians and the ratio.
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

async function viaDriver (i: number): Promise<number> {
  const name = `drv${i}`
  const t0 = performance.now()
  const h = await driver.start(spec(name))
  await waitForLine(async () => await readFile(driver.paths(name).serialLog, 'utf8'), READY, 60_000)
  const ms = performance.now() - t0
  await driver.destroy(h)
  return ms
}

async function byHand (i: number): Promise<number> {
  const name = `hand${i}`
  const paths = { qmpSocket: join(stateDir, `${name}.qmp`), serialLog: join(stateDir, `${name}.serial.log`) }
  const { file, args } = await driver.launchCommand(spec(name), paths) // exactly what the driver would run
  const t0 = performance.now()
  const child = execa(file, args, { stdio: 'ignore', reject: false })
  await waitForLine(async () => await readFile(paths.serialLog, 'utf8'), READY, 60_000)
  const ms = performance.now() - t0
  child.kill('SIGKILL')
  await child
  return ms
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]! }
const d: number[] = []
const h: number[] = []
try {
  for (let i = 0; i < runs; i++) {
    h.push(await byHand(i))
    d.push(await viaDriver(i))
    console.log(`run ${i + 1}: by hand ${Math.round(h[i]!)} ms, via driver ${Math.round(d[i]!)} ms`)
  }
  const md = median(d)
  const mh = median(h)
  console.log(`qemu-overhead (${accel}, ${runs} runs, start to ready line): by hand median ${Math.round(mh)} ms, ` +
    `via driver median ${Math.round(md)} ms, ratio ${(md / mh).toFixed(3)} (driver adds ${Math.round(md - mh)} ms, ${(100 * (md - mh) / mh).toFixed(1)}%)`)
} finally {
  await rm(stateDir, { recursive: true, force: true })
}
