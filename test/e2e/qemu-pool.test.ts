import { execFile } from 'node:child_process'
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { QemuDriver } from '../../node/drivers/qemu/index.ts'
import { ensureGuest } from '../../simulations/guest/guest.ts'
import type { DaemonProcess } from './harness.ts'
import { filesUnder, sdpeer, startDaemon } from './harness.ts'

// issue 4, end to end: the real daemon (`cli/sdpeer.js join --driver qemu`) deploys examples/qemu/twoGuests.sf,
// booting two real guests (the tiny test guest, TCG here) on cow overlays of one base image. Three scenarios, each
// booting the pair once: the happy path (running, console in `sdpeer logs`, status pages, graceful terminate,
// overlays gone, saved tarball with the guest's file), a qemu killed from outside (ABNORMAL with the reason), and a
// daemon killed with SIGKILL then restarted on the same state dir (re-attaches to the same qemu processes, then
// terminates them cleanly).

const exec = promisify(execFile)
const EXAMPLE = fileURLToPath(new URL('../../examples/qemu/twoGuests.sf', import.meta.url))
const MAKE_BASE = fileURLToPath(new URL('../../examples/qemu/make-base.sh', import.meta.url))
const GUESTS = ['guest1', 'guest2'] as const

let root: string
let guestDir: string
const daemons: DaemonProcess[] = []
const stateDirs: string[] = []
const ENV_KEYS = ['SDPEER_GUEST_DIR', 'SDPEER_PORT1', 'SDPEER_PORT2'] as const

beforeAll(async () => {
  const guest = await ensureGuest()
  guestDir = guest.dir
  await exec(MAKE_BASE, [guestDir], { timeout: 120_000 })
  root = await mkdtemp(join(tmpdir(), 'sdpeer-qe2e-'))
}, 300_000)

afterEach(async () => {
  for (const d of daemons.splice(0)) {
    if (d.proc.exitCode === null && d.proc.signalCode === null) { d.proc.kill('SIGKILL'); await d.exited }
  }
  // Guests outlive their daemon by design: whatever a failed test left running is destroyed through the driver.
  for (const dir of stateDirs.splice(0)) {
    const driver = new QemuDriver({ stateDir: dir, accel: 'tcg' })
    for (const name of await driver.list()) {
      const rec = JSON.parse(await readFile(driver.paths(name).record, 'utf8')) as { pid: number, startTime: string }
      await driver.destroy({ driver: 'qemu', name, data: rec }).catch(() => {})
    }
  }
  for (const k of ENV_KEYS) Reflect.deleteProperty(process.env, k)
})

afterAll(async () => { if (root !== undefined) await rm(root, { recursive: true, force: true }) })

const freePort = async (): Promise<number> => await new Promise((resolvePort, reject) => {
  const server = createServer()
  server.once('error', reject)
  server.listen(0, '127.0.0.1', () => {
    const address = server.address()
    server.close(() => typeof address === 'object' && address !== null ? resolvePort(address.port) : reject(new Error('no port')))
  })
})

async function newStateDir (name: string): Promise<string> {
  const dir = join(await mkdtemp(join(root, `${name}-`)), 'state')
  stateDirs.push(dir)
  return dir
}

async function daemon (stateDir: string): Promise<DaemonProcess> {
  const d = await startDaemon('localhost', stateDir, ['--driver', 'qemu'])
  daemons.push(d)
  return d
}

interface Deployed { ports: Record<string, number> }

/** `sdpeer deploy examples/qemu/twoGuests.sf --wait`, pointed at the guest and at two free ports through the environment. */
async function deploy (d: DaemonProcess, pool: string): Promise<Deployed> {
  const ports = { guest1: await freePort(), guest2: await freePort() }
  // The CLI resolves the description in this process: PROPERTY / IPROPERTY read process.env.
  process.env.SDPEER_GUEST_DIR = resolve(guestDir)
  process.env.SDPEER_PORT1 = String(ports.guest1)
  process.env.SDPEER_PORT2 = String(ports.guest2)
  const t0 = performance.now()
  const dep = await sdpeer(d.api, ['deploy', EXAMPLE, '--name', pool, '--wait'])
  console.log(`deploy ${pool}: running after ${Math.round(performance.now() - t0)} ms`)
  expect(dep.stderr.split('\n').filter(l => l !== '' && !/ warning SF9001: /.test(l))).toEqual([])
  expect(dep.code, dep.stdout).toBe(0)
  return { ports }
}

interface StatusJson { pool: string, state: string, components: Array<{ path: string, state: string, reason?: string }> }

async function status (d: DaemonProcess, pool: string): Promise<StatusJson> {
  const st = await sdpeer(d.api, ['status', pool, '--json'])
  expect(st.code, st.stderr).toBe(0)
  return JSON.parse(st.stdout) as StatusJson
}

/** The qemu pid of each guest, from the domain handles in the pool's state file. */
async function handlePids (stateDir: string, pool: string): Promise<Record<string, number>> {
  const rec = JSON.parse(await readFile(join(stateDir, 'pools', `${pool}.json`), 'utf8')) as {
    components: Record<string, { saved?: { handle?: { data?: { pid?: number } } } }>
  }
  const out: Record<string, number> = {}
  for (const g of GUESTS) {
    const pid = rec.components[g]?.saved?.handle?.data?.pid
    expect(typeof pid, `${g} has a handle with a pid`).toBe('number')
    out[g] = pid!
  }
  return out
}

/** True while the process runs: a zombie (a guest reparented after its daemon was killed, not yet reaped) is gone. */
async function alive (pid: number): Promise<boolean> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => undefined)
  if (stat === undefined) return false
  const state = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]
  return state !== 'Z' && state !== 'X'
}

async function until<T> (what: string, fn: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> {
  const deadline = performance.now() + timeoutMs
  let last: unknown
  for (;;) {
    try {
      const v = await fn()
      if (v !== undefined) return v
    } catch (err) { last = err }
    if (performance.now() > deadline) throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`)
    await new Promise(r => setTimeout(r, 200))
  }
}

/** Waits for the guest's ready line in `sdpeer logs POOL:GUEST` and returns the whole log. */
async function readyLog (d: DaemonProcess, pool: string, guest: string): Promise<string[]> {
  return await until(`${guest}'s ready line in sdpeer logs`, async () => {
    const r = await sdpeer(d.api, ['logs', `${pool}:${guest}`])
    const lines = r.stdout.split('\n')
    return lines.some(l => l.startsWith(`console: SDPEER-GUEST-READY hostname=${guest} `)) ? lines : undefined
  })
}

async function page (port: number): Promise<string> {
  return await until(`the page on 127.0.0.1:${port}`, async () => {
    const res = await fetch(`http://127.0.0.1:${port}/`, { signal: AbortSignal.timeout(5_000) })
    return res.ok ? await res.text() : undefined
  }, 30_000)
}

/** Terminates the pool and checks the guests went down by ACPI power-off, their overlays gone. */
async function terminateGracefully (d: DaemonProcess, stateDir: string, pool: string, pids: Record<string, number>): Promise<void> {
  const t0 = performance.now()
  const term = await sdpeer(d.api, ['terminate', pool])
  const took = performance.now() - t0
  console.log(`terminate ${pool}: ${Math.round(took)} ms`)
  expect(term.code, term.stderr).toBe(0)
  expect(term.stdout).toMatch(/guest1\s+XenDomain\s+\S+\s+terminated/)
  // shutdownTimeout is 30 s in the example: a terminate that took that long ended in quit/SIGKILL, not a power-off.
  expect(took).toBeLessThan(25_000)
  for (const g of GUESTS) {
    expect(await alive(pids[g]!), `${g}'s qemu is gone`).toBe(false)
    const serial = await readFile(join(stateDir, 'qemu', `${g}.serial.log`), 'utf8')
    // The guest heard the ACPI button, unmounted its disk and powered off (init.sh's power_off).
    expect(serial).toContain(`SDPEER-GUEST-POWEROFF hostname=${g}`)
    expect(serial).toContain('reboot: Power down')
    // qemu reports a SIGTERM/SIGINT it gets ("terminating on signal 15"); quit after the power-off says nothing.
    expect(await readFile(join(stateDir, 'qemu', `${g}.stderr.log`), 'utf8')).not.toMatch(/signal|killed/i)
  }
  expect(await filesUnder(join(stateDir, 'storage', pool))).toEqual([])
  expect(await new QemuDriver({ stateDir, accel: 'tcg' }).list()).toEqual([])
}

describe('examples/qemu/twoGuests.sf on the real daemon with real guests', () => {
  it('runs both guests, shows their consoles in sdpeer logs, serves their pages, and terminates them gracefully', async () => {
    const stateDir = await newStateDir('happy')
    const d = await daemon(stateDir)
    const { ports } = await deploy(d, 'two')
    const st = await status(d, 'two')
    expect(st.state).toBe('running')
    expect(st.components.map(c => [c.path, c.state])).toEqual([
      ['', 'running'], ['myShell', 'running'], ['disk1', 'running'], ['guest1', 'running'], ['disk2', 'running'], ['guest2', 'running']])

    // Each guest boots on its own qcow2 overlay of the one base image.
    const base = resolve(guestDir, 'base.img')
    for (const g of GUESTS) {
      const overlay = join(stateDir, 'storage', 'two', g === 'guest1' ? 'disk1' : 'disk2', `${g}.qcow2`)
      const { stdout } = await exec('qemu-img', ['info', '-U', '--output=json', overlay])
      const info = JSON.parse(stdout) as { format: string, 'backing-filename': string }
      expect(info.format).toBe('qcow2')
      expect(info['backing-filename']).toBe(base)
    }

    for (const g of GUESTS) {
      const lines = await readyLog(d, 'two', g)
      // The component's own lines come first, then the guest's console.
      const started = lines.indexOf(`info: domain ${g} started (qemu)`)
      const ready = lines.findIndex(l => l.startsWith('console: SDPEER-GUEST-READY'))
      expect(started).toBeGreaterThanOrEqual(0)
      expect(ready).toBeGreaterThan(started)
      expect(lines[ready]).toBe(`console: SDPEER-GUEST-READY hostname=${g} ip=10.0.2.15 disk=/dev/vda`)
      const text = await page(ports[g]!)
      expect(text).toMatch(new RegExp(`^sdpeer-guest hostname=${g} ip=10\\.0\\.2\\.15 disk=/dev/vda kernel=`))
    }
    const accel = JSON.parse(await readFile(join(stateDir, 'qemu', 'guest1.json'), 'utf8')).accel as string
    console.log(`guests run under ${accel}`)

    const pids = await handlePids(stateDir, 'two')
    await terminateGracefully(d, stateDir, 'two', pids)

    // saveImage true on guest1: its file system, with the file it wrote at boot, is in the tarball; guest2 has none.
    const saved = join(stateDir, 'storage', 'saved')
    expect(await filesUnder(saved)).toEqual(['guest1.tar.gz'])
    const tarball = join(saved, 'guest1.tar.gz')
    expect((await exec('tar', ['-xzOf', tarball, './etc/sdpeer-proof'])).stdout).toBe('written-by-guest1\n')
    expect((await exec('tar', ['-xzOf', tarball, './etc/sdpeer-base'])).stdout).toBe('sdpeer example base image\n')
    // The base image was only read.
    expect((await exec('debugfs', ['-R', 'cat /etc/sdpeer-proof', base])).stdout.trim()).toBe('')
  }, 150_000)

  it('reports a guest whose qemu is killed from outside as ABNORMAL with the reason, and shuts the other down', async () => {
    // guest2 is the one killed: guest1's saveImage of a file system left dirty by a crash is another matter (see
    // the report of issue 4: debugfs refuses such an image).
    const stateDir = await newStateDir('killed')
    const d = await daemon(stateDir)
    await deploy(d, 'crash')
    await readyLog(d, 'crash', 'guest2')
    const pids = await handlePids(stateDir, 'crash')
    const t0 = performance.now()
    process.kill(pids.guest2!, 'SIGKILL')

    // domainLivenessDelay 2000 x factor 3: seen within a few seconds, generous here. ABNORMAL: the origin (and
    // the root, which stands for the pool) end `failed` with the reason; the others are taken down with it.
    const final = await until('the pool terminated', async () => {
      const s = await status(d, 'crash')
      return s.components.every(c => c.state === 'terminated' || c.state === 'failed') ? s : undefined
    }, 60_000)
    console.log(`guest2's death ended the pool after ${Math.round(performance.now() - t0)} ms: ${final.components.find(c => c.path === 'guest2')?.reason ?? ''}`)
    const reason = `domain guest2 crashed: qemu (pid ${pids.guest2}) was killed by SIGKILL; serial log tail: SDPEER-GUEST-READY hostname=guest2`
    expect(final.state).toBe('failed')
    const byPath = Object.fromEntries(final.components.map(c => [c.path, c]))
    expect(byPath.guest2!.state).toBe('failed')
    expect(byPath.guest2!.reason).toContain(reason)
    expect(byPath['']!.state).toBe('failed')
    expect(byPath['']!.reason).toContain(reason)
    for (const p of ['myShell', 'disk1', 'guest1', 'disk2']) expect(byPath[p], p).toMatchObject({ state: 'terminated' })
    const text = (await sdpeer(d.api, ['status', 'crash'])).stdout
    expect(text.split('\n')[0]).toContain(`pool crash: failed (abnormal at guest2: ${reason}`)

    // guest1 was powered off by the pool's termination (sfSyncTerminate), and saved; nothing keeps running.
    expect(await alive(pids.guest1!)).toBe(false)
    expect(await readFile(join(stateDir, 'qemu', 'guest1.serial.log'), 'utf8')).toContain('SDPEER-GUEST-POWEROFF hostname=guest1')
    expect(await new QemuDriver({ stateDir, accel: 'tcg' }).list()).toEqual([])
    expect(await filesUnder(join(stateDir, 'storage', 'crash'))).toEqual([])
    expect(await filesUnder(join(stateDir, 'storage', 'saved'))).toEqual(['guest1.tar.gz'])
  }, 150_000)

  it('re-attaches to both guests after the daemon is killed with SIGKILL, then terminates them cleanly', async () => {
    const stateDir = await newStateDir('restart')
    const first = await daemon(stateDir)
    const { ports } = await deploy(first, 'keep')
    for (const g of GUESTS) await readyLog(first, 'keep', g)
    const pids = await handlePids(stateDir, 'keep')

    first.proc.kill('SIGKILL')
    expect(await first.exited).toBe('SIGKILL')
    for (const g of GUESTS) expect(await alive(pids[g]!), `${g} outlives its daemon`).toBe(true)

    const second = await daemon(stateDir)
    const st = await until('the pool re-attached', async () => {
      const s = await status(second, 'keep')
      return s.components.every(c => c.state === 'running') ? s : undefined
    }, 60_000)
    expect(st.state).toBe('running')
    expect(await handlePids(stateDir, 'keep')).toEqual(pids)
    for (const g of GUESTS) {
      const lines = (await sdpeer(second.api, ['logs', `keep:${g}`])).stdout.split('\n')
      expect(lines).toContain(`info: re-attached to domain ${g} (running)`)
      expect(lines.some(l => l.startsWith(`console: SDPEER-GUEST-READY hostname=${g}`))).toBe(true)
      expect(await page(ports[g]!)).toContain(`hostname=${g}`)
      expect((await stat(join(stateDir, 'storage', 'keep', g === 'guest1' ? 'disk1' : 'disk2', `${g}.qcow2`))).isFile()).toBe(true)
    }

    await terminateGracefully(second, stateDir, 'keep', pids)
    expect((await exec('tar', ['-xzOf', join(stateDir, 'storage', 'saved', 'guest1.tar.gz'), './etc/sdpeer-proof'])).stdout).toBe('written-by-guest1\n')
  }, 150_000)
})
