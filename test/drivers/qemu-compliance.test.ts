import { beforeAll } from 'vitest'
import { QemuDriver } from '../../node/drivers/qemu/index.ts'
import type { DomainSpec } from '../../node/drivers/types.ts'
import { ensureGuest } from '../../simulations/guest/guest.ts'
import type { TestGuest } from '../../simulations/guest/guest.ts'
import { driverCompliance } from './compliance.ts'

// The shared HypervisorDriver contract against real qemu processes (TCG). 'plain' boots the test guest (it powers
// off on the ACPI button); 'ignores-shutdown' has no kernel, so SeaBIOS idles and never answers the button;
// 'fails-start' names a kernel that does not exist, so qemu exits at once.

let guest: TestGuest
beforeAll(async () => { guest = await ensureGuest() }, 300_000)

const base = (name: string): DomainSpec => ({ name, memoryMiB: 96, vcpus: 1, disks: [], options: { network: 'none' } })

driverCompliance('qemu', stateDir => new QemuDriver({ stateDir, accel: 'tcg' }), (name, variant) => {
  switch (variant) {
    case 'plain': return { ...base(name), kernel: guest.kernel, ramdisk: guest.initrd, hostname: name, extra: 'quiet' }
    case 'ignores-shutdown': return base(name)
    case 'fails-start': return { ...base(name), kernel: `/nonexistent/${name}/vmlinuz` }
  }
}, { startTimeoutMs: 20_000, shutdownTimeoutMs: 1_500 })
