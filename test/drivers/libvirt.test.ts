import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, beforeEach, afterEach, describe, expect, it } from 'vitest'
import { domainXml, LibvirtDriver } from '../../node/drivers/libvirt/index.ts'
import { macFor } from '../../node/drivers/qemu/index.ts'
import type { DomainSpec } from '../../node/drivers/types.ts'
import { ExecaShell } from '../../node/seams/execa-shell.ts'
import { driverCompliance } from './compliance.ts'

// Contract tests: the domain XML and the exact virsh command lines are pinned here, against the recording stand-in
// test/fixtures/bin/virsh, which answers as virsh 9.0 does (messages, states, exit status). The driver against a
// real libvirtd and real guests is libvirt-real.test.ts; where the two disagreed, the stand-in was fixed.

const VIRSH = resolve(import.meta.dirname, '../fixtures/bin/virsh')
let files: string
let kernel: string
beforeAll(async () => {
  files = await mkdtemp(join(tmpdir(), 'sdpeer-libvirt-files-'))
  kernel = join(files, 'vmlinuz')
  await writeFile(kernel, 'kernel')
})
afterAll(async () => { await rm(files, { recursive: true, force: true }) })

const makeDriver = (stateDir: string): LibvirtDriver => new LibvirtDriver({
  stateDir, virsh: VIRSH, uri: 'qemu:///session', domainType: 'qemu',
  shell: new ExecaShell({ env: { SDPEER_RECORD: join(stateDir, 'virsh-record.jsonl'), SDPEER_VIRSH_STATE: join(stateDir, 'virsh-state.json'), SDPEER_NODE: process.execPath } })
})
const base = (name: string, extra: Partial<DomainSpec> = {}): DomainSpec =>
  ({ name, memoryMiB: 256, vcpus: 1, kernel, disks: [], options: {}, ...extra })

driverCompliance('libvirt', makeDriver, (name, variant) => {
  switch (variant) {
    case 'plain': return base(name)
    case 'ignores-shutdown': return base(name, { extra: 'sdpeer.test=ignore-shutdown' })
    case 'fails-start': return base(name, { kernel: join(files, 'missing-kernel') })
  }
}, { shutdownTimeoutMs: 700 })

describe('libvirt domain XML', () => {
  it('pins the XML of a domain with disks, a bridge and escaped values', () => {
    const xml = domainXml(base('web1', {
      kernel: '/img/vmlinuz', ramdisk: '/img/initrd.gz', hostname: 'web1', extra: "quiet msg=<a&b>'",
      disks: [{ path: '/var/lib/sdpeer/web1.qcow2', format: 'qcow2', target: 'xvda1', role: 'root' }],
      options: { network: 'bridge', bridge: 'br0' }
    }), { type: 'kvm', serialLog: '/var/lib/sdpeer/libvirt/web1.serial.log' })
    expect(xml).toBe(`<domain type='kvm'>
  <name>web1</name>
  <memory unit='MiB'>256</memory>
  <vcpu>1</vcpu>
  <os>
    <type arch='x86_64' machine='pc'>hvm</type>
    <kernel>/img/vmlinuz</kernel>
    <initrd>/img/initrd.gz</initrd>
    <cmdline>console=ttyS0 sdpeer.hostname=web1 root=/dev/vda quiet msg=&lt;a&amp;b&gt;&apos;</cmdline>
  </os>
  <features><acpi/></features>
  <on_poweroff>destroy</on_poweroff>
  <on_reboot>restart</on_reboot>
  <on_crash>preserve</on_crash>
  <devices>
    <disk type='file' device='disk'>
      <driver name='qemu' type='qcow2'/>
      <source file='/var/lib/sdpeer/web1.qcow2'/>
      <target dev='vda' bus='virtio'/>
    </disk>
    <interface type='bridge'>
      <source bridge='br0'/>
      <mac address='${macFor('web1')}'/>
      <model type='virtio'/>
    </interface>
    <serial type='file'>
      <source path='/var/lib/sdpeer/libvirt/web1.serial.log'/>
      <target port='0'/>
    </serial>
    <panic model='isa'/>
  </devices>
</domain>
`)
  })

  it('escapes a path that tries to close the attribute', () => {
    const xml = domainXml(base('x', { disks: [{ path: "/tmp/a'/><disk file='/etc/shadow", format: 'raw', target: 'vda', role: 'data' }] }), { type: 'qemu', serialLog: '/s' })
    expect(xml).toContain("<source file='/tmp/a&apos;/&gt;&lt;disk file=&apos;/etc/shadow'/>")
    expect(xml.match(/<disk /g)).toHaveLength(1)
  })
})

describe('libvirt driver command lines (stand-in)', () => {
  let stateDir: string
  beforeEach(async () => { stateDir = await mkdtemp(join(tmpdir(), 'sdpeer-libvirt-')) })
  afterEach(async () => { await rm(stateDir, { recursive: true, force: true }) })
  const record = async (): Promise<string[][]> => (await readFile(join(stateDir, 'virsh-record.jsonl'), 'utf8'))
    .trim().split('\n').map(l => (JSON.parse(l) as { argv: string[] }).argv.slice(2))

  it('runs exactly these virsh commands for a domain lifetime', async () => {
    const d = makeDriver(stateDir)
    const h = await d.start(base('db1'))
    const xml = join(stateDir, 'libvirt', 'db1.xml')
    expect(await d.status(h)).toEqual({ state: 'running' })
    expect(await d.list()).toEqual(['db1'])
    await d.shutdown(h, 5_000)
    expect((await d.status(h)).state).toBe('missing')
    expect(await record()).toEqual([
      ['domstate', 'db1', '--reason'],
      ['define', xml],
      ['start', 'db1'],
      ['domstate', 'db1', '--reason'],
      ['list', '--name'],
      ['domstate', 'db1', '--reason'],
      ['shutdown', 'db1'],
      ['domstate', 'db1', '--reason'],
      ['domstate', 'db1', '--reason'],
      ['domstate', 'db1', '--reason'],
      ['undefine', 'db1'],
      ['domstate', 'db1', '--reason']
    ])
    // Every call names the connection first.
    const raw = (await readFile(join(stateDir, 'virsh-record.jsonl'), 'utf8')).trim().split('\n').map(l => (JSON.parse(l) as { argv: string[] }).argv)
    expect(raw.every(a => a[0] === '-c' && a[1] === 'qemu:///session')).toBe(true)
  })

  it('reports a domain libvirt saw crash', async () => {
    const d = makeDriver(stateDir)
    const h = await d.start(base('c1'))
    const file = join(stateDir, 'virsh-state.json')
    const st = JSON.parse(await readFile(file, 'utf8')) as { domains: Record<string, { state: string, reason: string }> }
    st.domains.c1 = { ...st.domains.c1!, state: 'crashed', reason: 'panicked' }
    await writeFile(file, JSON.stringify(st))
    expect(await d.status(h)).toEqual({ state: 'crashed', reason: 'libvirt reports crashed (panicked)' })
    const before = (await record()).length
    // A crashed guest kept by on_crash preserve is still active: no power button, destroy before undefine (undefine
    // alone would only make it transient, still there).
    await d.shutdown(h, 5_000)
    expect((await record()).slice(before)).toEqual([
      ['domstate', 'c1', '--reason'],
      ['domstate', 'c1', '--reason'],
      ['destroy', 'c1'],
      ['domstate', 'c1', '--reason'],
      ['undefine', 'c1']
    ])
    expect((await d.status(h)).state).toBe('missing')
  })

  it('adds the guest\'s panic line from its serial log to the crash reason', async () => {
    const d = makeDriver(stateDir)
    const h = await d.start(base('c2'))
    await writeFile(d.serialLog('c2'), 'SDPEER-GUEST-READY hostname=c2\n[ 10.3] Kernel panic - not syncing: sysrq triggered crash\n[ 10.4] RIP: 0033:0x0\n')
    const file = join(stateDir, 'virsh-state.json')
    const st = JSON.parse(await readFile(file, 'utf8')) as { domains: Record<string, { state: string, reason: string }> }
    st.domains.c2 = { ...st.domains.c2!, state: 'crashed', reason: 'panicked' }
    await writeFile(file, JSON.stringify(st))
    expect(await d.status(h)).toEqual({ state: 'crashed', reason: 'libvirt reports crashed (panicked); serial log: [ 10.3] Kernel panic - not syncing: sysrq triggered crash' })
    await d.destroy(h)
  })
})
