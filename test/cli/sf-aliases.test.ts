import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { main } from '../../cli/main.ts'
import { makeDemoKeys } from '../../node/demo/keys.ts'
import { startHost, stopHost, waitReady } from '../../node/demo/hosts.ts'
import type { DemoHost } from '../../node/demo/hosts.ts'

// SmartFrog's verbs against one real daemon (an `sdpeer join` process): each runs the sdpeer command it translates to
// and prints that translation on stderr.

const HOST = 'machine9.cern.ch'
let root: string
let daemon: DemoHost
let file: string
let operatorKey: string

function capture (): { stream: Writable, text: () => string } {
  const chunks: Buffer[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { chunks.push(Buffer.from(chunk)); cb() } })
  return { stream, text: () => Buffer.concat(chunks).toString('utf8') }
}

async function sf (...args: string[]): Promise<{ code: number, out: string, err: string }> {
  const out = capture(); const err = capture()
  const code = await main(['sf', ...args], { stdout: out.stream, stderr: err.stream, env: { SDPEER_API: daemon.apiPath, SDPEER_OPERATOR_KEY: operatorKey }, cwd: root })
  return { code, out: out.text(), err: err.text() }
}

beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'sdpeer-sf-'))
  const keys = await makeDemoKeys(root, [join(root, HOST, 'state')])
  operatorKey = keys.operator.file
  daemon = await startHost({ name: HOST, root, driver: 'sim', poolKeyFile: keys.poolKeyFile })
  file = join(root, 'app.sf')
  await writeFile(file, '#include "org/smartfrog/components.sf"\nsfConfig extends Compound {\n  a extends Prim;\n  b extends Prim;\n}\n')
  await waitReady(daemon)
}, 30_000)

afterAll(async () => {
  if (daemon !== undefined) await stopHost(daemon)
  await rm(root, { recursive: true, force: true })
})

describe('sdpeer sf (SmartFrog aliases)', () => {
  it('prints the translation table in --help', async () => {
    const r = await sf('--help')
    expect(r.code).toBe(0)
    expect(r.out).toMatch(/sfStart HOST APP FILE\s+sdpeer deploy FILE --name APP --at HOST --wait/)
    expect(r.out).toMatch(/sfParse FILE\s+sdpeer check FILE/)
  })

  it('sf parse FILE is sdpeer check FILE', async () => {
    const r = await sf('parse', file)
    expect(r.code).toBe(0)
    expect(r.err).toContain(`sf: sdpeer check ${file}`)
    expect(r.out).toContain('sfConfig extends')
    const bad = join(root, 'bad.sf')
    await writeFile(bad, 'sfConfig extends {\n')
    expect((await sf('parse', bad)).code).toBe(1)
  })

  it('start, ping, list and terminate an application through the local daemon', async () => {
    const start = await sf('start', 'localhost', 'app', file)
    expect(start.err).toContain(`sf: sdpeer deploy ${file} --name app --wait`)
    expect(start.code).toBe(0)

    const ping = await sf('ping', 'localhost', 'app')
    expect(ping).toMatchObject({ code: 0, out: 'app: running (alive)\n' })

    // A named host: the root goes there (--at), here the daemon's own host.
    const at = await sf('start', HOST, 'app2', file)
    expect(at.err).toContain(`--name app2 --at ${HOST} --wait`)
    expect(at.code).toBe(0)

    const list = await sf('list', HOST)
    expect(list.code).toBe(0)
    expect(list.out).toMatch(/^app\s+running/m)
    expect(list.out).toMatch(/^app2\s+running/m)
    expect((await sf('list', 'machine10.cern.ch')).out).toBe('no pools on machine10.cern.ch\n')
    expect((await sf('list', 'localhost')).err).toContain('sf: sdpeer ls')

    const term = await sf('terminate', 'localhost', 'app')
    expect(term.err).toContain('sf: sdpeer terminate app')
    expect(term.code).toBe(0)
    expect((await sf('ping', 'localhost', 'app')).code).toBe(1)
    expect((await sf('terminate', HOST, 'app2', '--abnormal')).err).toContain('sf: sdpeer terminate app2 --abnormal')
    expect((await sf('ping', HOST, 'app2')).code).toBe(1)
  }, 30_000)

  it('a host nobody answers to fails the start, and nothing is deployed', async () => {
    const r = await sf('start', 'nowhere.cern.ch', 'app3', file)
    expect(r.code).toBe(1)
    expect(r.err).toMatch(/not deployed: .*nowhere\.cern\.ch/)
    expect((await sf('ping', 'localhost', 'app3')).code).toBe(1)
  })

  it('wrong usage exits 2', async () => {
    expect((await sf('start', 'localhost', 'app')).code).toBe(2)
    expect((await sf('frob')).code).toBe(2)
    expect((await sf()).code).toBe(2)
  })
})
