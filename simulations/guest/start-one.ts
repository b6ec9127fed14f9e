import { QemuDriver } from '../../node/drivers/qemu/index.ts'
import { ensureGuest } from './guest.ts'

// Boots one test guest with the qemu driver and exits, leaving the guest running; prints the handle (JSON) on
// stdout. Used by the tests to prove that a guest outlives the process that started it, and handy by hand:
//   npx node simulations/guest/start-one.ts STATE_DIR NAME [FORWARD_PORT]
const [stateDir, name, port] = process.argv.slice(2)
if (stateDir === undefined || name === undefined) {
  console.error('usage: start-one.ts STATE_DIR NAME [FORWARD_PORT]')
  process.exit(2)
}
const guest = await ensureGuest()
const driver = new QemuDriver({ stateDir, accel: 'tcg' })
const handle = await driver.start({
  name, memoryMiB: 128, vcpus: 1, kernel: guest.kernel, ramdisk: guest.initrd, hostname: name, disks: [],
  options: port === undefined ? {} : { forwardPort: Number(port) }
})
console.log(JSON.stringify(handle))
