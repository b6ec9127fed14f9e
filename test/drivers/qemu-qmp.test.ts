import { mkdtemp, rm } from 'node:fs/promises'
import { createServer } from 'node:net'
import type { Server, Socket } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { QmpSession, qmpCommand } from '../../node/drivers/qemu/index.ts'

// The QMP client against a scripted server on a real Unix socket: events interleaved with replies, error replies,
// a server that never greets, and one that hangs up. (The real qemu is exercised in qemu-guest.test.ts.)

let dir: string
let server: Server | undefined
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'sdpeer-qmp-')) })
afterEach(async () => {
  await new Promise<void>(resolve => server === undefined ? resolve() : server.close(() => resolve()))
  server = undefined
  await rm(dir, { recursive: true, force: true })
})

type Script = (cmd: { execute: string, arguments?: unknown }, sock: Socket) => void
async function serve (script: Script, greet = true): Promise<string> {
  const path = join(dir, 'q.sock')
  server = createServer(sock => {
    if (greet) sock.write(JSON.stringify({ QMP: { version: { qemu: { major: 7 } }, capabilities: [] } }) + '\r\n')
    let buf = ''
    sock.on('data', d => {
      buf += d.toString()
      let nl
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl)
        buf = buf.slice(nl + 1)
        script(JSON.parse(line) as { execute: string }, sock)
      }
    })
  })
  await new Promise<void>(resolve => server!.listen(path, resolve))
  return path
}
const send = (sock: Socket, msg: unknown): void => { sock.write(JSON.stringify(msg) + '\r\n') }

describe('QMP client', () => {
  it('negotiates, keeps events apart from replies and passes arguments', async () => {
    const seen: unknown[] = []
    const path = await serve((cmd, sock) => {
      seen.push(cmd)
      if (cmd.execute === 'qmp_capabilities') { send(sock, { return: {} }); return }
      send(sock, { event: 'POWERDOWN', timestamp: { seconds: 1, microseconds: 2 } })
      send(sock, { return: { status: 'running', echo: cmd.arguments } })
    })
    const s = await QmpSession.open(path)
    expect(await s.execute('query-status', { x: 1 })).toEqual({ status: 'running', echo: { x: 1 } })
    expect(s.events.map(e => e.event)).toEqual(['POWERDOWN'])
    s.close()
    expect(seen).toEqual([{ execute: 'qmp_capabilities' }, { execute: 'query-status', arguments: { x: 1 } }])
  })

  it('turns an error reply into QmpError with its class', async () => {
    const path = await serve((cmd, sock) => {
      if (cmd.execute === 'qmp_capabilities') send(sock, { return: {} })
      else send(sock, { error: { class: 'CommandNotFound', desc: `The command ${cmd.execute} has not been found` } })
    })
    await expect(qmpCommand(path, 'nope')).rejects.toMatchObject({ name: 'QmpError', errorClass: 'CommandNotFound' })
  })

  it('times out on a server that never greets, and fails on one that hangs up or is absent', async () => {
    const silent = await serve(() => {}, false)
    const t0 = performance.now()
    await expect(QmpSession.open(silent, { timeoutMs: 200 })).rejects.toMatchObject({ name: 'QmpError', message: expect.stringContaining('greeting') })
    expect(performance.now() - t0).toBeLessThan(2_000)
    await new Promise<void>(resolve => server!.close(() => resolve()))
    const rude = await serve((_cmd, sock) => { sock.destroy() })
    await expect(qmpCommand(rude, 'query-status')).rejects.toMatchObject({ name: 'QmpError' })
    await expect(qmpCommand(join(dir, 'absent.sock'), 'query-status')).rejects.toMatchObject({ name: 'QmpError', message: expect.stringContaining('ENOENT') })
  })
})
