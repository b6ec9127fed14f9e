import { resolve } from 'node:path'
import { execa } from 'execa'

// Where the tests and benchmarks find the tiny guest: builds it on first use (build-guest.sh is idempotent and
// cached), then returns its kernel and initramfs. SDPEER_GUEST_DIR overrides the cache directory.

export interface TestGuest {
  kernel: string
  initrd: string
  dir: string
}

const here = new URL('.', import.meta.url).pathname

export async function ensureGuest (dir = process.env.SDPEER_GUEST_DIR ?? resolve(here, '../../.cache/guest')): Promise<TestGuest> {
  const result = await execa(resolve(here, 'build-guest.sh'), [dir], { reject: false, stdin: 'ignore', timeout: 300_000 })
  if (result.exitCode !== 0) throw new Error(`build-guest.sh failed (${result.exitCode}): ${String(result.stderr).slice(-2000)}`)
  return { kernel: resolve(dir, 'vmlinuz'), initrd: resolve(dir, 'initrd.gz'), dir }
}

/** Resolves with the serial log's first line matching `pattern`, polling the file; rejects after `timeoutMs`. */
export async function waitForLine (readLog: () => Promise<string>, pattern: RegExp, timeoutMs: number): Promise<string> {
  const deadline = performance.now() + timeoutMs
  for (;;) {
    const text = await readLog().catch(() => '')
    const line = text.split(/\r?\n/).find(l => pattern.test(l))
    if (line !== undefined) return line
    if (performance.now() > deadline) throw new Error(`no line matching ${pattern} within ${timeoutMs} ms; log tail: ${text.slice(-500)}`)
    await new Promise(r => setTimeout(r, 25))
  }
}
