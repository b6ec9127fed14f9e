import { access, constants, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { loadExeca } from '../../seams/lazy-execa.ts'
import type { Accel } from './cmdline.ts'

// KVM or TCG. /dev/kvm existing is not enough: on some hosts (nested virtualisation, like the CI machine) a KVM
// guest starts and then hangs for ever as soon as it leaves real mode. So the probe really runs code under KVM,
// with a timeout: a 64 KiB firmware (kvm-probe.S) that goes from the reset vector through protected and long mode
// and then writes to isa-debug-exit, so qemu exits with status 85 within milliseconds where KVM works. With the
// `probeKernel` option the probe boots that kernel instead, until it panics for want of a root file system
// (`panic=-1` + `-no-reboot` make qemu exit).

export interface AccelChoice {
  accel: Accel
  /** Human-readable: why this accelerator (shown in the fingerprint details). */
  reason: string
}

export interface ProbeOptions {
  binary: string
  /** Where the firmware blob is written. */
  workDir: string
  kernel?: string
  timeoutMs: number
  signal?: AbortSignal
}

/** kvm-probe.S assembled: the code at offset 0 and the reset vector's far jump at 0xFFF0. */
const PROBE_CODE = 'fa2e660f0116a8000f20c06683c8010f22c066ea1a000f00080066b810008ed88ec08ed0bf0010000031c0b9000c0000f3abc7050010' +
  '000003200000c7050020000003300000c70500300000830000000f20e083c8200f22e0b8001000000f22d8b9800000c00f320d000100000f30' +
  '0f20c00d000000800f22c0ea81000f001800b02ae6f4f466900000000000000000ffff0000009acf00ffff00000092cf00ffff0000009aaf00' +
  '1f0088000f'
const PROBE_RESET = 'ea000000f0'
/** isa-debug-exit turns `out 0xf4, 0x2a` into exit status (0x2a << 1) | 1. */
const PROBE_EXIT = 85

export function probeFirmware (): Uint8Array {
  const blob = new Uint8Array(65536)
  blob.set(Buffer.from(PROBE_CODE, 'hex'), 0)
  blob.set(Buffer.from(PROBE_RESET, 'hex'), 0xfff0)
  return blob
}

export async function probeAccel (options: ProbeOptions): Promise<AccelChoice> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK)
  } catch {
    return { accel: 'tcg', reason: 'no usable /dev/kvm' }
  }
  const kernel = options.kernel
  const common = ['-accel', 'kvm', '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot', '-m', '128']
  let args: string[]
  let expectedExit: number
  let what: string
  if (kernel !== undefined) {
    args = [...common, '-kernel', kernel, '-append', 'panic=-1 console=ttyS0', '-serial', 'none']
    expectedExit = 0
    what = `booting ${kernel}`
  } else {
    const firmware = join(options.workDir, 'kvm-probe.bin')
    await writeFile(firmware, probeFirmware())
    args = [...common, '-bios', firmware, '-device', 'isa-debug-exit,iobase=0xf4,iosize=0x04']
    expectedExit = PROBE_EXIT
    what = 'running the probe firmware into long mode'
  }
  const execa = await loadExeca()
  const t0 = performance.now()
  const result = await execa(options.binary, args, {
    reject: false, stdin: 'ignore', timeout: options.timeoutMs, killSignal: 'SIGKILL', cancelSignal: options.signal
  })
  const ms = Math.round(performance.now() - t0)
  if (result.timedOut) return { accel: 'tcg', reason: `KVM probe hung: ${what} did not finish within ${options.timeoutMs} ms` }
  if (result.exitCode !== expectedExit) {
    const err = String(result.stderr ?? '').trim().split('\n').slice(-1)[0] ?? ''
    return { accel: 'tcg', reason: `KVM probe failed: ${what} exited with ${result.exitCode ?? result.signal}${err ? `: ${err}` : ''}` }
  }
  return { accel: 'kvm', reason: `KVM probe passed in ${ms} ms: ${what}` }
}
