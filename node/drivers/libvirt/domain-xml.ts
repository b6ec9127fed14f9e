import { resolve } from 'node:path'
import { domainOptions, kernelCommandLine } from '../qemu/cmdline.ts'
import { DriverError } from '../types.ts'
import type { DomainSpec } from '../types.ts'

// libvirt domain XML for one domain, a pure function of the spec (contract tests pin it). libvirt runs the guest
// with qemu, so the guest-facing choices (virtio disks vda, vdb..., kernel command line, MAC) are the qemu
// driver's, shared from qemu/cmdline.ts. Every text value is XML-escaped; names and modes are validated there.

const esc = (s: string): string => s.replace(/[&<>"']/g, c => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&apos;' })[c]!)

export interface DomainXmlOptions {
  /** 'kvm' or 'qemu' (TCG), libvirt's domain type. */
  type: 'kvm' | 'qemu'
  serialLog: string
}

export function domainXml (spec: DomainSpec, options: DomainXmlOptions): string {
  const o = domainOptions(spec)
  if (!/^[A-Za-z0-9_.-]{1,64}$/.test(spec.name)) throw new DriverError('libvirt', spec.name, `invalid domain name ${JSON.stringify(spec.name)}`)
  if (!Number.isInteger(spec.memoryMiB) || spec.memoryMiB < 16) throw new DriverError('libvirt', spec.name, `memory must be at least 16 MiB, not ${spec.memoryMiB}`)
  if (!Number.isInteger(spec.vcpus) || spec.vcpus < 1) throw new DriverError('libvirt', spec.name, `vcpus must be a positive integer, not ${spec.vcpus}`)
  const x: string[] = [
    `<domain type='${options.type}'>`,
    `  <name>${esc(spec.name)}</name>`,
    `  <memory unit='MiB'>${spec.memoryMiB}</memory>`,
    `  <vcpu>${spec.vcpus}</vcpu>`,
    '  <os>',
    "    <type arch='x86_64' machine='pc'>hvm</type>"
  ]
  if (spec.kernel !== undefined) {
    x.push(`    <kernel>${esc(resolve(spec.kernel))}</kernel>`)
    if (spec.ramdisk !== undefined) x.push(`    <initrd>${esc(resolve(spec.ramdisk))}</initrd>`)
    x.push(`    <cmdline>${esc(kernelCommandLine(spec))}</cmdline>`)
  }
  x.push('  </os>', '  <features><acpi/></features>',
    '  <on_poweroff>destroy</on_poweroff>', '  <on_reboot>restart</on_reboot>', '  <on_crash>preserve</on_crash>', '  <devices>')
  spec.disks.forEach((d, i) => {
    x.push("    <disk type='file' device='disk'>",
      `      <driver name='qemu' type='${d.format}'/>`,
      `      <source file='${esc(resolve(d.path))}'/>`,
      `      <target dev='vd${String.fromCharCode(97 + i)}' bus='virtio'/>`)
    if (d.readonly === true) x.push('      <readonly/>')
    x.push('    </disk>')
  })
  if (o.network !== 'none') {
    const kind = o.network === 'bridge' ? 'bridge' : o.network === 'tap' ? 'ethernet' : 'user'
    x.push(`    <interface type='${kind}'>`)
    if (o.network === 'bridge') x.push(`      <source bridge='${esc(o.bridge ?? '')}'/>`)
    if (o.network === 'tap') x.push(`      <target dev='${esc(o.tap ?? '')}' managed='no'/>`)
    x.push(`      <mac address='${o.mac}'/>`, "      <model type='virtio'/>", '    </interface>')
  }
  // pvpanic, as the qemu driver has: a guest kernel panic makes libvirt report "crashed (panicked)" (on_crash
  // preserve keeps the domain for inspection) instead of a guest that looks running but is dead.
  x.push("    <serial type='file'>", `      <source path='${esc(options.serialLog)}'/>`, "      <target port='0'/>", '    </serial>',
    "    <panic model='isa'/>", '  </devices>', '</domain>', '')
  return x.join('\n')
}
