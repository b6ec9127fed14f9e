import { spawn } from 'node:child_process'
import { Writable } from 'node:stream'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import { main } from '../../cli/main.ts'
import { ApiClient } from '../../node/api/client.ts'
import { QemuDriver } from '../../node/drivers/qemu/index.ts'
import type { DomainSpec } from '../../node/drivers/types.ts'
import { ensureGuest, waitForLine } from '../guest/guest.ts'

// What the whole daemon adds to one guest's boot (issue 4's speed goal): `sdpeer deploy examples/qemu/oneGuest.sf
// --wait` against a running `sdpeer join --driver qemu` (resolve, API, engine, cow overlay by qemu-img, qemu start,
// QMP "running"), timed to the pool's `running` and to the guest's ready line; against the same qemu command line
// (QemuDriver.launchCommand of the spec the VM component builds) on an overlay made by hand with the same
// qemu-img command, started detached as the driver does. Order alternates per run. Prints every run and medians.
//   npx node simulations/bench/qemu-pool.ts [RUNS=3]

const runs = Number(process.argv[2] ?? 3)
const repo = fileURLToPath(new URL('../../', import.meta.url))
const guest = await ensureGuest()
await execa(join(repo, 'examples/qemu/make-base.sh'), [guest.dir])
const base = resolve(guest.dir, 'base.img')
const root = await mkdtemp(join(tmpdir(), 'sdpeer-bench-pool-'))
const stateDir = join(root, 'state')
const api = join(stateDir, 'api.sock')
const READY = /SDPEER-GUEST-READY/

const daemon = spawn(process.execPath, [join(repo, 'cli/sdpeer.js'), 'join', '--host', 'localhost', '--state-dir', stateDir, '--driver', 'qemu', '--insecure'],
  { stdio: ['ignore', 'ignore', 'pipe'] })
let daemonErr = ''
daemon.stderr.on('data', c => { daemonErr += String(c) })

const quiet = (): Writable => new Writable({ write (_c, _e, cb) { cb() } })
async function sdpeer (args: string[]): Promise<number> {
  return await main(args, { stdout: quiet(), stderr: quiet(), env: { SDPEER_API: api }, cwd: repo })
}

async function viaDaemon (i: number): Promise<{ running: number, ready: number }> {
  process.env.SDPEER_GUEST_DIR = guest.dir
  process.env.SDPEER_PORT1 = String(18500 + i)
  const serial = join(stateDir, 'qemu', 'guest1.serial.log')
  await rm(serial, { force: true })
  const t0 = performance.now()
  const code = await sdpeer(['deploy', join(repo, 'examples/qemu/oneGuest.sf'), '--name', `b${i}`, '--wait'])
  const running = performance.now() - t0
  if (code !== 0) throw new Error(`deploy failed (${code}): ${daemonErr.slice(-2000)}`)
  await waitForLine(async () => await readFile(serial, 'utf8'), READY, 120_000)
  const ready = performance.now() - t0
  if (await sdpeer(['terminate', `b${i}`]) !== 0) throw new Error('terminate failed')
  return { running, ready }
}

const hand = new QemuDriver({ stateDir: join(root, 'hand') })
async function byHand (i: number): Promise<number> {
  const dir = join(root, 'hand')
  const overlay = join(dir, `h${i}.qcow2`)
  const spec: DomainSpec = {
    name: `h${i}`, memoryMiB: 128, vcpus: 1, kernel: guest.kernel, ramdisk: guest.initrd, extra: 'quiet', hostname: 'guest1',
    ip: '10.0.2.15', netmask: '255.255.255.0', gateway: '10.0.2.2',
    disks: [{ path: overlay, format: 'qcow2', target: 'xvda1', role: 'root' }], options: { forwardPort: 18600 + i, guestPort: 80 }
  }
  const paths = { qmpSocket: join(dir, `h${i}.qmp`), serialLog: join(dir, `h${i}.serial.log`) }
  const { file, args } = await hand.launchCommand(spec, paths)
  const t0 = performance.now()
  await execa('qemu-img', ['create', '-q', '-f', 'qcow2', '-F', 'raw', '-b', base, overlay, '64M'])
  const child = execa(file, args, { stdio: 'ignore', reject: false, detached: true })
  await waitForLine(async () => await readFile(paths.serialLog, 'utf8'), READY, 120_000)
  const ms = performance.now() - t0
  child.kill('SIGKILL')
  await child
  return ms
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]! }
try {
  for (let deadline = Date.now() + 30_000; ;) {
    try { const c = await ApiClient.connect(api); await c.call('ping', {}); c.close(); break } catch {
      if (Date.now() > deadline) throw new Error(`daemon did not come up: ${daemonErr}`)
      await new Promise(r => setTimeout(r, 100))
    }
  }
  // The daemon probes KVM on its first guest: one warm-up deploy so the runs measure steady state.
  await viaDaemon(99)
  await execa('mkdir', ['-p', join(root, 'hand')])
  const d: Array<{ running: number, ready: number }> = []
  const h: number[] = []
  for (let i = 0; i < runs; i++) {
    if (i % 2 === 0) { d.push(await viaDaemon(i)); h.push(await byHand(i)) } else { h.push(await byHand(i)); d.push(await viaDaemon(i)) }
    console.log(`run ${i + 1}: sdpeer deploy -> running ${Math.round(d[i]!.running)} ms, -> ready line ${Math.round(d[i]!.ready)} ms; ` +
      `by hand (qemu-img + qemu) -> ready line ${Math.round(h[i]!)} ms`)
  }
  const [mr, md, mh] = [median(d.map(x => x.running)), median(d.map(x => x.ready)), median(h)]
  console.log(`qemu-pool (${runs} runs, medians): sdpeer deploy -> running ${Math.round(mr)} ms, -> ready line ${Math.round(md)} ms; ` +
    `by hand -> ready line ${Math.round(mh)} ms; ratio ${(md / mh).toFixed(3)} (sdpeer adds ${Math.round(md - mh)} ms)`)
} finally {
  daemon.kill('SIGTERM')
  await new Promise(r => daemon.once('exit', r))
  await rm(root, { recursive: true, force: true })
}
