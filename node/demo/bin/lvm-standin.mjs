// A recording stand-in for the LVM commands (device-mapper does not work on the build machine). The sh wrappers
// lvcreate, lvremove and lvs exec this with the command name first. Each call appends {"argv": [...]} as one JSON line
// to $SDPEER_RECORD; a "volume group" is the directory $SDPEER_LVM_DEV/VG and a "logical volume" a sparse file in it,
// so /dev/VG/LV maps to $SDPEER_LVM_DEV/VG/LV. $SDPEER_LVM_FAIL="cmd:lvname" makes that call fail (exit 5), for
// rollback tests. Exit codes and messages follow LVM's (5 for a failed command).
import { appendFileSync, existsSync, openSync, closeSync, ftruncateSync, readdirSync, rmSync, statSync } from 'node:fs'
import { join } from 'node:path'

const [cmd, ...args] = process.argv.slice(2)
const record = process.env.SDPEER_RECORD
if (record) appendFileSync(record, JSON.stringify({ argv: [cmd, ...args] }) + '\n')
const dev = process.env.SDPEER_LVM_DEV
if (!dev) fail('SDPEER_LVM_DEV is not set')

function fail (message, code = 5) {
  process.stderr.write(`  ${message}\n`)
  process.exit(code)
}
function option (name) {
  const i = args.indexOf(name)
  return i >= 0 ? args[i + 1] : undefined
}
function vgDir (vg) {
  const dir = join(dev, vg)
  if (!/^[A-Za-z0-9+_.-]+$/.test(vg) || !existsSync(dir) || !statSync(dir).isDirectory()) fail(`Volume group "${vg}" not found`)
  return dir
}
function injected (lv) {
  if (process.env.SDPEER_LVM_FAIL === `${cmd}:${lv}`) fail(`injected failure of ${cmd} ${lv}`)
}
const units = { k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 }

switch (cmd) {
  case 'lvcreate': {
    const size = option('-L')
    const name = option('-n')
    const vg = args[args.length - 1]
    const m = /^(\d+)([kmgt])$/i.exec(size ?? '')
    if (!m || !name) fail('usage: lvcreate -L SIZE -n NAME VG', 3)
    const dir = vgDir(vg)
    injected(name)
    const path = join(dir, name)
    if (existsSync(path)) fail(`Logical Volume "${name}" already exists in volume group "${vg}"`)
    const fd = openSync(path, 'wx')
    ftruncateSync(fd, Number(m[1]) * units[m[2].toLowerCase()])
    closeSync(fd)
    process.stdout.write(`  Logical volume "${name}" created.\n`)
    break
  }
  case 'lvremove': {
    const target = args.find(a => a.includes('/'))
    if (!target || !args.includes('-f')) fail('usage: lvremove -f VG/LV', 3)
    const [vg, lv] = target.split('/')
    const path = join(vgDir(vg), lv)
    injected(lv)
    if (!existsSync(path)) fail(`Failed to find logical volume "${target}"`)
    rmSync(path)
    process.stdout.write(`  Logical volume "${lv}" successfully removed.\n`)
    break
  }
  case 'lvs': {
    const vg = args[args.length - 1]
    if (!args.includes('--noheadings') || option('-o') !== 'lv_name') fail('stand-in lvs only knows --noheadings -o lv_name VG', 3)
    for (const lv of readdirSync(vgDir(vg)).sort()) process.stdout.write(`  ${lv}\n`)
    break
  }
  default:
    fail(`lvm stand-in does not know ${cmd}`, 3)
}
