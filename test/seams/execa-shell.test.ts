import { mkdtemp, readdir, rm } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { ExecaShell } from '../../node/seams/execa-shell.ts'
import { ShellCommandError } from '../../node/seams/shell.ts'

const echoArgv = fileURLToPath(new URL('../fixtures/bin/echo-argv.mjs', import.meta.url))

let dir: string
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'sdpeer-shell-')) })
afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

describe('ExecaShell', () => {
  it('passes hostile strings as literal argv elements, and no shell runs them', async () => {
    const pwned = join(dir, 'pwned')
    const hostile = [
      'x; rm -rf /',
      `$(touch ${pwned})`,
      `\`touch ${pwned}\``,
      `a\ntouch ${pwned}`,
      `../../${'etc'}/passwd`,
      `"; touch ${pwned}; echo "`,
      `|| touch ${pwned}`,
      `> ${pwned}`,
      '*',
      '$HOME',
      ''
    ]
    const shell = new ExecaShell()
    const viaNode = await shell.run({ file: process.execPath, args: [echoArgv, ...hostile], cwd: dir })
    expect(JSON.parse(viaNode.stdout)).toEqual(hostile)
    // The same through a system tool: printf gets each value as one argument and prints it back NUL-separated.
    const viaPrintf = await shell.run({ file: 'printf', args: ['%s\\0', ...hostile], cwd: dir })
    expect(viaPrintf.stdout.split('\0').slice(0, -1)).toEqual(hostile)
    expect(existsSync(pwned)).toBe(false)
    expect(await readdir(dir)).toEqual([])
  })

  it('runs commands one after another in FIFO order', async () => {
    const shell = new ExecaShell()
    const order: string[] = []
    const script = 'const [n, ms] = process.argv.slice(1); setTimeout(() => console.log(n), Number(ms))'
    const runs = [['a', 150], ['b', 10], ['c', 60], ['d', 0]].map(([n, ms]) =>
      shell.run({ file: process.execPath, args: ['-e', script, String(n), String(ms)] }).then(r => { order.push(r.stdout.trim()) }))
    await Promise.all(runs)
    expect(order).toEqual(['a', 'b', 'c', 'd'])
  })

  it('a failed command does not stop the queue, and reports argv, exit code and stderr tail', async () => {
    const shell = new ExecaShell()
    const failing = shell.run({ file: process.execPath, args: ['-e', 'console.error("line1\\nbad thing"); process.exit(3)'] })
    const next = shell.run({ file: 'printf', args: ['ok'] })
    const err = await failing.catch((e: unknown) => e)
    expect(err).toBeInstanceOf(ShellCommandError)
    const e = err as ShellCommandError
    expect(e.name).toBe('ShellCommandError')
    expect(e.exitCode).toBe(3)
    expect(e.argv[0]).toBe(process.execPath)
    expect(e.stderr).toContain('bad thing')
    expect(e.message).toContain('exit code 3')
    expect((await next).stdout).toBe('ok')
  })

  it('kills a command that runs past its timeout, with SIGKILL when it ignores SIGTERM', async () => {
    const shell = new ExecaShell({ killGraceMs: 200 })
    const started = performance.now()
    const stubborn = 'process.on("SIGTERM", () => {}); setInterval(() => {}, 1000)'
    const err = await shell.run({ file: process.execPath, args: ['-e', stubborn], timeoutMs: 300 }).catch((e: unknown) => e)
    const elapsed = performance.now() - started
    expect(err).toBeInstanceOf(ShellCommandError)
    expect((err as ShellCommandError).message).toMatch(/timed out after 300 ms/)
    expect(elapsed).toBeGreaterThanOrEqual(280)
    expect(elapsed).toBeLessThan(5_000)
  })

  it('aborts a running command and a queued one through the signal', async () => {
    const shell = new ExecaShell({ killGraceMs: 100 })
    const ac = new AbortController()
    const running = shell.run({ file: 'sleep', args: ['10'], signal: ac.signal })
    const marker = join(dir, 'should-not-exist')
    const queued = shell.run({ file: 'touch', args: [marker], signal: ac.signal })
    const after = shell.run({ file: 'printf', args: ['still works'] })
    setTimeout(() => { ac.abort() }, 100)
    const started = performance.now()
    await expect(running).rejects.toMatchObject({ name: 'ShellCommandError' })
    await expect(queued).rejects.toMatchObject({ name: 'ShellCommandError', message: expect.stringMatching(/abort/) })
    expect((await after).stdout).toBe('still works')
    expect(performance.now() - started).toBeLessThan(5_000)
    expect(existsSync(marker)).toBe(false)
  })

  it('passes input, cwd and env, and writes a transcript to the log sink', async () => {
    const log: string[] = []
    const shell = new ExecaShell({ log: l => log.push(l), env: { SDPEER_A: 'from-shell' } })
    const script = 'let s = ""; process.stdin.on("data", d => s += d).on("end", () => { console.log(s.toUpperCase(), process.cwd(), process.env.SDPEER_A, process.env.SDPEER_B); console.error("warn") })'
    const r = await shell.run({ file: process.execPath, args: ['-e', script, 'x; y'], input: 'hello', cwd: dir, env: { SDPEER_B: 'from-cmd' } })
    expect(r.stdout.trim()).toBe(`HELLO ${dir} from-shell from-cmd`)
    expect(r.exitCode).toBe(0)
    expect(log[0]).toMatch(/^\$ .* -e ".*" "x; y" <\(5 bytes\)$/)
    expect(log).toContain(`| HELLO ${dir} from-shell from-cmd`)
    expect(log).toContain('! warn')
    expect(log[log.length - 1]).toMatch(/^= exit 0 \(\d+ ms\)$/)
  })

  it('reports a missing program as ShellCommandError', async () => {
    const shell = new ExecaShell()
    await expect(shell.run({ file: 'sdpeer-no-such-program', args: [] })).rejects.toMatchObject({ name: 'ShellCommandError', exitCode: undefined })
  })
})
