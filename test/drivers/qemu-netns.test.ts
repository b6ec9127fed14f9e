import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { QemuDriver } from '../../node/drivers/qemu/index.ts'
import { ensureGuest, waitForLine } from '../../simulations/guest/guest.ts'
import type { TestGuest } from '../../simulations/guest/guest.ts'

// Tap networking as on a real host (a tap on a bridge), inside a network namespace this test creates, so nothing
// touches the machine's own network: the guest gets its address from the description and answers on the bridge.

const ns = `sdpq-${process.pid}`
const ipns = (...args: string[]) => execa('ip', ['netns', 'exec', ns, ...args])
let guest: TestGuest
let stateDir: string
let unavailable: string | undefined

beforeAll(async () => {
  guest = await ensureGuest()
  stateDir = await mkdtemp(join(tmpdir(), 'sdpeer-qemu-ns-'))
  const add = await execa('ip', ['netns', 'add', ns], { reject: false })
  if (add.exitCode !== 0) { unavailable = `cannot create a network namespace: ${add.stderr}`; return }
  await ipns('ip', 'link', 'add', 'br0', 'type', 'bridge')
  await ipns('ip', 'tuntap', 'add', 'dev', 'sdtap0', 'mode', 'tap')
  await ipns('ip', 'link', 'set', 'sdtap0', 'master', 'br0')
  await ipns('ip', 'addr', 'add', '10.77.0.1/24', 'dev', 'br0')
  for (const dev of ['lo', 'br0', 'sdtap0']) await ipns('ip', 'link', 'set', dev, 'up')
}, 300_000)
afterAll(async () => {
  await execa('ip', ['netns', 'del', ns], { reject: false })
  await rm(stateDir, { recursive: true, force: true })
})

describe('qemu tap networking in a network namespace', () => {
  it('a guest on a tap of the namespace bridge is reachable at its own address', async ctx => {
    if (unavailable !== undefined) {
      console.log(`skipping: ${unavailable}`)
      ctx.skip()
    }
    const d = new QemuDriver({ stateDir, accel: 'tcg' })
    const h = await d.start({
      name: 'tapg', memoryMiB: 128, vcpus: 1, kernel: guest.kernel, ramdisk: guest.initrd, extra: 'quiet',
      hostname: 'tapg', ip: '10.77.0.5', netmask: '255.255.255.0', gateway: '10.77.0.1', disks: [],
      options: { network: 'tap', tap: 'sdtap0', netns: ns }
    })
    try {
      await waitForLine(async () => await readFile(d.paths('tapg').serialLog, 'utf8'), /SDPEER-GUEST-READY/, 60_000)
      // Node itself, run inside the namespace, fetches the page (the test runner lives outside it).
      const fetchScript = 'fetch(process.argv[1], { signal: AbortSignal.timeout(5000) }).then(r => r.text()).then(t => process.stdout.write(t))'
      const page = await ipns(process.execPath, '-e', fetchScript, 'http://10.77.0.5/')
      expect(page.stdout).toContain('hostname=tapg ip=10.77.0.5')
      expect((await ipns('ip', 'neigh', 'show', '10.77.0.5')).stdout).toContain('lladdr 52:54:00')
      await d.shutdown(h, 20_000)
      expect(await readFile(d.paths('tapg').serialLog, 'utf8')).toContain('SDPEER-GUEST-POWEROFF')
    } finally {
      await d.destroy(h)
    }
  }, 120_000)
})
