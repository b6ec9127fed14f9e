import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import { describe, expect, it } from 'vitest'
import { generatePool } from '../../../simulations/bench/sf-resolve.ts'

// `sdpeer check` through the real launcher (cli/sdpeer.js), whose stderr for `check` is a plain synchronous writer
// on file descriptor 2, and whose output to a pipe is written with write(2), rather than through Node's streams
// (see the launcher, cli/commands/check.ts and BENCHMARKS.md).

const SDPEER = fileURLToPath(new URL('../../../cli/sdpeer.js', import.meta.url))
const dir = mkdtempSync(join(tmpdir(), 'sf-launcher-'))
// 4,000 unresolved prototypes: a report of ~400 KiB on stderr.
const n = 4000
writeFileSync(join(dir, 'many.sf'), `sfConfig extends {\n${Array.from({ length: n }, (_, i) => `  a${i} extends Missing${i};`).join('\n')}\n}\n`)

describe('sdpeer check stderr', () => {
  it('writes every diagnostic of a long report through a pipe, in order, far past a pipe buffer', async () => {
    const r = await execa(process.execPath, [SDPEER, 'check', 'many.sf'], { cwd: dir, reject: false, timeout: 120_000, env: { PATH: process.env.PATH ?? '' } })
    expect(r.exitCode).toBe(1)
    const lines = String(r.stderr).split('\n')
    expect(String(r.stderr).length).toBeGreaterThan(256 * 1024)
    expect(lines.filter(l => / error SF4001: /.test(l))).toHaveLength(n)
    expect(lines[0]).toMatch(/^many\.sf:2:\d+: error SF4001: unresolved prototype Missing0 /)
    expect(lines[n - 1]).toMatch(new RegExp(`^many\\.sf:${n + 1}:\\d+: error SF4001: unresolved prototype Missing${n - 1} `))
    expect(lines[n]).toBe(`${n} errors, 0 warnings`)
  })

  it('ends quietly when the reader of stderr goes away', async () => {
    // `sdpeer check bad.sf 2>&1 | head -1`: the rest of the report hits a closed pipe; exit status as computed.
    const r = await execa('/bin/sh', ['-c', `"${process.execPath}" "${SDPEER}" check many.sf 2>&1 >/dev/null | head -1`], { cwd: dir, reject: false, timeout: 120_000 })
    expect(String(r.stdout)).toMatch(/^many\.sf:2:\d+: error SF4001/)
    expect(String(r.stderr)).not.toMatch(/EPIPE|Error/)
  })
})

describe('sdpeer check stdout', () => {
  // 1,000 VMs: ~1 MiB of JSON, many times a pipe's buffer.
  writeFileSync(join(dir, 'pool.sf'), generatePool(1000))

  it('writes the same bytes to a pipe as to a file', async () => {
    const sh = (cmd: string) => execa('/bin/sh', ['-c', cmd], { cwd: dir, reject: false, timeout: 120_000, maxBuffer: 64 * 1024 * 1024 })
    const toFile = await sh(`"${process.execPath}" "${SDPEER}" check --json pool.sf > out.json`)
    expect(toFile.exitCode).toBe(0)
    const piped = await execa(process.execPath, [SDPEER, 'check', '--json', 'pool.sf'], { cwd: dir, reject: false, timeout: 120_000, maxBuffer: 64 * 1024 * 1024, stripFinalNewline: false })
    expect(piped.exitCode).toBe(0)
    expect(String(piped.stdout).length).toBeGreaterThan(512 * 1024)
    expect(String(piped.stdout)).toBe(readFileSync(join(dir, 'out.json'), 'utf8'))
  })

  it('ends quietly, exit status 0, when the reader goes away (`| head`)', async () => {
    // bash's PIPESTATUS gives the launcher's own exit status, not head's.
    const b = await execa('/bin/bash', ['-c', `"${process.execPath}" "${SDPEER}" check --json pool.sf | head -c 100 > /dev/null; echo "\${PIPESTATUS[0]}"`], { cwd: dir, reject: false, timeout: 120_000 })
    expect(String(b.stdout).trim()).toBe('0')
    expect(String(b.stderr)).toBe('')
  })
})
