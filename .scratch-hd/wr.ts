import { openSync, writeSync, readSync, ftruncateSync, closeSync, unlinkSync } from 'node:fs'
import { createHash, randomBytes } from 'node:crypto'
const path = '/tmp/wr-test.bin'; const n = 512; const b = randomBytes(1 << 20)
for (const mode of ['sparse', 'sparse', 'nontrunc']) {
  const fd = openSync(path, 'w+'); if (mode === 'sparse') ftruncateSync(fd, n << 20)
  let t = process.threadCpuUsage(); let w = performance.now()
  for (let i = 0; i < n; i++) writeSync(fd, b, 0, b.length, i << 20)
  let c = process.threadCpuUsage(t); console.log(mode, 'write 512MiB cpu', ((c.user + c.system) / 1e6).toFixed(2), 'sys', (c.system / 1e6).toFixed(2), 'wall', (performance.now() - w).toFixed(0))
  t = process.threadCpuUsage(); const s = Buffer.allocUnsafe(1 << 20)
  for (let i = 0; i < n; i++) readSync(fd, s, 0, s.length, i << 20)
  c = process.threadCpuUsage(t); console.log(mode, 'read back cpu', ((c.user + c.system) / 1e6).toFixed(2))
  t = process.threadCpuUsage()
  for (let i = 0; i < n; i++) createHash('sha256').update(b).digest()
  c = process.threadCpuUsage(t); console.log('sha256 512MiB cpu', ((c.user + c.system) / 1e6).toFixed(2))
  closeSync(fd); unlinkSync(path)
}
