import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import { cowBackend } from '../../node/storage/cow.ts'
import { loopbackBackend } from '../../node/storage/loopback.ts'
import { lvmBackend } from '../../node/storage/lvm.ts'
import { storageCompliance } from './compliance.ts'

const standins = fileURLToPath(new URL('../fixtures/bin', import.meta.url))

storageCompliance('loopback', async (_dir, assets) => ({
  backend: domainName => loopbackBackend({ domainName, volumeSize: '48M', swapSize: '8M', baseImage: assets.tarball })
}))

storageCompliance('lvm', async (dir, assets) => {
  const dev = join(dir, 'dev')
  await mkdir(join(dev, 'vg0'), { recursive: true })
  return {
    backend: domainName => lvmBackend({ domainName, volumeGroup: 'vg0', volumeSize: '48M', swapSize: '8M', baseImage: assets.ext4Image, devDir: dev }),
    shellEnv: { PATH: `${standins}:${process.env.PATH}`, SDPEER_LVM_DEV: dev, SDPEER_NODE: process.execPath }
  }
})

const hasQemuImg = (await execa('qemu-img', ['--version'], { reject: false })).exitCode === 0
if (hasQemuImg) {
  storageCompliance('cow', async (_dir, assets) => ({
    backend: domainName => cowBackend({ domainName, baseImage: assets.ext4Image, swapSize: '8M' })
  }))
} else {
  console.log('cow storage compliance not run: qemu-img is not installed (apt-get install qemu-utils)')
}
