import { describe, expect, it } from 'vitest'
import { Writable } from 'node:stream'
import { main } from '../../cli/main.ts'

function capture (): { stream: Writable, text: () => string } {
  const chunks: Buffer[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { chunks.push(Buffer.from(chunk)); cb() } })
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') }
}

describe('sdpeer command line', () => {
  it('lists its commands with --help and exits 0', async () => {
    const out = capture(); const err = capture()
    const code = await main(['--help'], { stdout: out.stream, stderr: err.stream, env: {}, cwd: process.cwd() })
    expect(code).toBe(0)
    expect(out.text()).toMatch(/^usage: sdpeer COMMAND/)
    expect(out.text()).toContain('version')
  })

  it('refuses an unknown command with exit 2 and names it', async () => {
    const out = capture(); const err = capture()
    const code = await main(['frobnicate'], { stdout: out.stream, stderr: err.stream, env: {}, cwd: process.cwd() })
    expect(code).toBe(2)
    expect(err.text()).toContain('unknown command "frobnicate"')
  })

  it('does not load a command from outside cli/commands', async () => {
    const out = capture(); const err = capture()
    const code = await main(['../main'], { stdout: out.stream, stderr: err.stream, env: {}, cwd: process.cwd() })
    expect(code).toBe(2)
  })
})
