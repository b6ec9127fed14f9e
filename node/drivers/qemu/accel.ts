import { access, constants, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'
import type { Accel } from './cmdline.ts'

// KVM or TCG. /dev/kvm existing is not enough: on some hosts (nested virtualisation, like the CI machine) a KVM
// guest starts and then hangs for ever once its kernel leaves real mode. So the probe really runs a guest under KVM
// with a timeout. With a Linux kernel to hand (the `probeKernel` option, or the host's own /boot/vmlinuz) the probe
// boots it to the point where it panics for want of a root file system (`panic=-1` + `-no-reboot` make qemu exit);
// that crosses real, protected and long mode. Without one, a 64 KiB firmware blob writes to isa-debug-exit, which
// only proves that KVM runs real-mode code.

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

/** Reset vector code: `mov al, 0x2a; out 0xf4, al; hlt`. qemu then exits with status (0x2a << 1) | 1 = 85. */
function probeFirmware (): Uint8Array {
  const blob = new Uint8Array(65536)
  blob.set([0xb0, 0x2a, 0xe6, 0xf4, 0xf4], 0xfff0)
  return blob
}

async function hostKernel (): Promise<string | undefined> {
  for (const candidate of [`/boot/vmlinuz-${(await import('node:os')).release()}`, '/boot/vmlinuz']) {
    try {
      await access(candidate, constants.R_OK)
      return candidate
    } catch {}
  }
  return undefined
}

export async function probeAccel (options: ProbeOptions): Promise<AccelChoice> {
  try {
    await access('/dev/kvm', constants.R_OK | constants.W_OK)
  } catch {
    return { accel: 'tcg', reason: 'no usable /dev/kvm' }
  }
  const kernel = options.kernel ?? await hostKernel()
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
    expectedExit = 85
    what = 'running a real-mode probe (no kernel to boot)'
  }
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
