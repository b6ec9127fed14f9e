import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { execa } from 'execa'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { probeAccel, probeFirmware } from '../../node/drivers/qemu/accel.ts'
import { QemuDriver } from '../../node/drivers/qemu/index.ts'

// The KVM probe: its firmware really reaches long mode (checked under TCG, where it must exit 85), its bytes are
// the assembled kvm-probe.S, and the probe decides within its timeout whatever this host's KVM does.

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'sdpeer-accel-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('KVM probe', () => {
  it('the probe firmware runs into long mode and exits through isa-debug-exit under TCG', async () => {
    const bios = join(dir, 'probe.bin')
    await writeFile(bios, probeFirmware())
    const r = await execa('qemu-system-x86_64', ['-accel', 'tcg', '-nodefaults', '-no-user-config', '-display', 'none', '-m', '16',
      '-bios', bios, '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04'], { reject: false, timeout: 20_000 })
    expect(r.exitCode).toBe(85)
  }, 30_000)

  it('the embedded bytes are kvm-probe.S assembled', async ctx => {
    const as = await execa('as', ['--version'], { reject: false })
    if (as.exitCode !== 0) {
      console.log('skipping: GNU as is not installed, cannot reassemble kvm-probe.S')
      ctx.skip()
    }
    const src = resolve(import.meta.dirname, '../../node/drivers/qemu/kvm-probe.S')
    await execa('as', ['--32', '-o', join(dir, 'p.o'), src])
    await execa('objcopy', ['-O', 'binary', join(dir, 'p.o'), join(dir, 'p.bin')])
    expect(Buffer.from(await readFile(join(dir, 'p.bin'))).equals(Buffer.from(probeFirmware()))).toBe(true)
  })

  it('decides kvm or tcg within its timeout and says why', async () => {
    const t0 = performance.now()
    const choice = await probeAccel({ binary: 'qemu-system-x86_64', workDir: dir, timeoutMs: 2_000 })
    const took = performance.now() - t0
    console.log(`KVM probe on this host: ${choice.accel} (${choice.reason}) in ${Math.round(took)} ms`)
    expect(took).toBeLessThan(2_000 + 3_000)
    if (choice.accel === 'kvm') expect(choice.reason).toMatch(/^KVM probe passed/)
    else expect(choice.reason).toMatch(/no usable \/dev\/kvm|KVM probe hung|KVM probe failed/)
  }, 20_000)

  it('the fingerprint shows the accelerator, probed once per driver or forced', async () => {
    const probed = new QemuDriver({ stateDir: dir, probeTimeoutMs: 2_000 })
    const fp = await probed.fingerprint()
    expect(['kvm', 'tcg']).toContain(fp.details.accel)
    expect(fp.details.accelReason).toBeTruthy()
    const t0 = performance.now()
    expect((await probed.fingerprint()).details.accel).toBe(fp.details.accel)
    expect(performance.now() - t0).toBeLessThan(500) // cached: no second probe
    const forced = await new QemuDriver({ stateDir: dir, accel: 'tcg' }).fingerprint()
    expect(forced.details).toMatchObject({ accel: 'tcg', accelReason: 'forced by the daemon configuration' })
    expect(forced.details.qemu).toMatch(/^QEMU emulator version/)
  }, 20_000)
})
