import { describe, expect, it } from 'vitest'
import { kernelCommandLine, macFor, qemuArgs } from '../../node/drivers/qemu/index.ts'
import { qemuSettings } from '../../node/drivers/qemu/settings.ts'
import type { DomainSpec } from '../../node/drivers/types.ts'

// The qemu command line is the driver's contract with qemu: pinned here, including how hostile values are refused
// or kept inside one argument.

const paths = { qmpSocket: '/var/lib/sdpeer/qemu/web1.qmp', serialLog: '/var/lib/sdpeer/qemu/web1.serial.log' }
const spec = (extra: Partial<DomainSpec> = {}): DomainSpec => ({
  name: 'web1', memoryMiB: 256, vcpus: 2, kernel: '/img/vmlinuz', ramdisk: '/img/initrd.gz', hostname: 'web1.example',
  ip: '192.168.50.10', netmask: '255.255.255.0', gateway: '192.168.50.1', extra: 'quiet',
  disks: [
    { path: '/var/lib/sdpeer/cow/web1.qcow2', format: 'qcow2', target: 'xvda1', role: 'root' },
    { path: '/var/lib/sdpeer/cow/web1,swap.img', format: 'raw', target: 'xvda2', role: 'swap' }
  ],
  options: { forwardPort: 18080 },
  ...extra
})

describe('qemu command line', () => {
  it('pins the arguments for a domain with disks, addresses and a forwarded port', () => {
    expect(qemuArgs(spec(), paths, 'tcg')).toEqual([
      '-name', 'guest=web1',
      '-machine', 'pc', '-accel', 'tcg',
      '-m', '256', '-smp', '2',
      '-nodefaults', '-no-user-config', '-display', 'none', '-no-reboot', '-no-shutdown', '-device', 'pvpanic', '-action', 'panic=pause',
      '-kernel', '/img/vmlinuz', '-initrd', '/img/initrd.gz',
      '-append', 'console=ttyS0 sdpeer.hostname=web1.example sdpeer.ip=192.168.50.10 sdpeer.netmask=255.255.255.0 ' +
        'sdpeer.gateway=192.168.50.1 ip=192.168.50.10::192.168.50.1:255.255.255.0:web1.example::off root=/dev/vda quiet',
      '-drive', 'file=/var/lib/sdpeer/cow/web1.qcow2,format=qcow2,if=virtio',
      '-drive', 'file=/var/lib/sdpeer/cow/web1,,swap.img,format=raw,if=virtio', // qemu reads ",," as a literal comma
      '-netdev', 'user,id=net0,net=192.168.50.0/24,host=192.168.50.1,hostfwd=tcp:127.0.0.1:18080-192.168.50.10:80',
      '-device', `virtio-net-pci,netdev=net0,mac=${macFor('web1')}`,
      '-chardev', 'file,id=serial0,path=/var/lib/sdpeer/qemu/web1.serial.log', '-serial', 'chardev:serial0',
      '-chardev', 'socket,id=qmp0,path=/var/lib/sdpeer/qemu/web1.qmp,server=on,wait=off', '-mon', 'chardev=qmp0,mode=control'
    ])
  })

  it('puts a firmware image before the kernel when given', () => {
    const args = qemuArgs(spec(), paths, 'tcg', '/usr/share/qemu/qboot.rom')
    expect(args.slice(args.indexOf('-bios'), args.indexOf('-bios') + 4)).toEqual(['-bios', '/usr/share/qemu/qboot.rom', '-kernel', '/img/vmlinuz'])
  })

  it('uses the host CPU under KVM, tap and bridge networking, and no NIC for network none', () => {
    const kvm = qemuArgs(spec({ options: { network: 'tap', tap: 'sdtap0' } }), paths, 'kvm')
    expect(kvm.slice(4, 8)).toEqual(['-accel', 'kvm', '-cpu', 'host'])
    expect(kvm).toContain('tap,id=net0,ifname=sdtap0,script=no,downscript=no')
    expect(qemuArgs(spec({ options: { network: 'bridge', bridge: 'br0' } }), paths, 'tcg')).toContain('bridge,id=net0,br=br0')
    const none = qemuArgs(spec({ options: { network: 'none' } }), paths, 'tcg')
    expect(none).not.toContain('-netdev')
    expect(none.join(' ')).not.toContain('virtio-net')
  })

  it('gives stable distinct MACs and leaves root= alone when extra sets it', () => {
    expect(macFor('web1')).toBe(macFor('web1'))
    expect(macFor('web1')).not.toBe(macFor('web2'))
    expect(macFor('web1')).toMatch(/^52:54:00(:[0-9a-f]{2}){3}$/)
    expect(kernelCommandLine(spec({ extra: 'root=/dev/vdb1 ro' }))).not.toContain('root=/dev/vda')
  })

  it.each([
    ['a hostname with a space (would add kernel parameters)', { hostname: 'x init=/bin/sh' }],
    ['a hostname with $(...)', { hostname: '$(reboot)' }],
    ['an ip that is not one', { ip: '10.0.0.1;reboot' }],
    ['a non-contiguous netmask', { netmask: '255.0.255.0' }],
    ['a forwarded port out of range', { options: { forwardPort: 70000 } }],
    ['a forwarded port with options', { options: { forwardPort: '80,hostfwd=tcp::22-:22' } }],
    ['a tap name with options', { options: { network: 'tap', tap: 'tap0,script=/tmp/evil' } }],
    ['an unknown network mode', { options: { network: 'vde' } }],
    ['a bridge mode without bridge', { options: { network: 'bridge' } }],
    ['an unknown accelerator', { options: { accel: 'hvf' } }],
    ['too little memory', { memoryMiB: 4 }]
  ] as Array<[string, Partial<DomainSpec>]>)('refuses %s with DriverError', (_what, extra) => {
    expect(() => qemuArgs(spec(extra), paths, 'tcg')).toThrow(expect.objectContaining({ name: 'DriverError' }))
  })

  it('keeps a hostile extra inside the single -append argument', () => {
    const args = qemuArgs(spec({ extra: '"; rm -rf / # $(id) `id`\n-drive file=/etc/shadow' }), paths, 'tcg')
    const i = args.indexOf('-append')
    expect(args[i + 1]).toMatch(/ "; rm -rf \/ # \$\(id\) `id`\n-drive file=\/etc\/shadow$/)
    expect(args.filter(a => a === '-drive')).toHaveLength(2)
  })

  it('reads daemon settings', () => {
    expect(qemuSettings({ qemuAccel: 'tcg', qemuProbeTimeoutMs: '3000' })).toEqual({ accel: 'tcg', probeTimeoutMs: 3000 })
    expect(qemuSettings({ qemuAccel: 'auto' })).toEqual({})
    expect(() => qemuSettings({ qemuAccel: 'xen' })).toThrow(expect.objectContaining({ name: 'DriverError' }))
  })
})
