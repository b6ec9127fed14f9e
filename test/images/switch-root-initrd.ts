import { mkdir, readFile, rm, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { execa } from 'execa'

// Test-only: the test guest's initramfs with the one step it lacks to boot a built image as a real root file system:
// when the kernel command line says `sdpeer.init=PATH` and the disk is mounted, `switch_root` into it and run PATH
// as PID 1. (Proposed for simulations/guest/init.sh; until it is there, the test derives this initramfs from it.)

export const SWITCH_ROOT_SNIPPET = `sinit=
for w in $(cat /proc/cmdline); do case "$w" in sdpeer.init=*) sinit=\${w#*=} ;; esac; done
if [ -n "$sinit" ] && [ "$disk" != none ] && [ -x "/mnt$sinit" ]; then
  exec /bin/busybox switch_root /mnt "$sinit"
fi
`

const ANCHOR = 'ifconfig lo 127.0.0.1 up\n'

export async function switchRootInitrd (guestInitrd: string, workDir: string): Promise<string> {
  const tree = join(workDir, 'initrd-tree')
  await rm(tree, { recursive: true, force: true })
  await mkdir(tree, { recursive: true })
  const cpioFile = join(workDir, 'initrd.cpio')
  await execa('gzip', ['-dc', guestInitrd], { stdout: { file: cpioFile } })
  await execa('cpio', ['-idm', '--quiet'], { cwd: tree, inputFile: cpioFile })
  const init = await readFile(join(tree, 'init'), 'utf8')
  if (!init.includes(ANCHOR)) throw new Error('test guest init.sh changed: no anchor for the switch_root step')
  await writeFile(join(tree, 'init'), init.replace(ANCHOR, SWITCH_ROOT_SNIPPET + ANCHOR), { mode: 0o755 })
  const list = (await execa('find', ['.'], { cwd: tree })).stdout
  await execa('cpio', ['-o', '-H', 'newc', '--quiet'], { cwd: tree, input: list + '\n', stdout: { file: cpioFile } })
  const out = join(workDir, 'initrd-switch-root.gz')
  await execa('gzip', ['-c', cpioFile], { stdout: { file: out } })
  return out
}
