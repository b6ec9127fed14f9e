import { access, mkdir, readFile, writeFile } from 'node:fs/promises'
import net from 'node:net'
import { join } from 'node:path'
import { afterAll, afterEach, describe, expect, it } from 'vitest'
import { SimDriver } from '../../node/drivers/sim.ts'
import { createEngine } from '../../node/engine/index.ts'
import type { PoolEngine } from '../../node/engine/index.ts'
import { registerConsoleHost, startConsole } from '../../node/api/console/index.ts'
import { URL_FILE, readToken } from '../../node/api/console/token.ts'
import { SF_CLASS } from '../../node/sf/component-classes.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'
import { removeTempDirs, tempDir, waitFor } from '../engine/fixtures.ts'

// DeployManagement (the tutorial's `console extends DeployManagement;`) serves the console on its host from start to
// termination, through the console's own start function; a real engine, sim driver, real HTTP.

const HOST = 'machine11.cern.ch'

function pool (console: SfJsonObject = {}): SfJsonObject {
  return { sfClass: SF_CLASS.Compound, console: { sfClass: SF_CLASS.DeployManagement, ...console }, other: { sfClass: SF_CLASS.Prim } }
}

async function portAnswers (port: number): Promise<boolean> {
  return await new Promise(resolve => {
    const s = net.connect({ host: '127.0.0.1', port })
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { resolve(false) })
  })
}

async function exists (f: string): Promise<boolean> {
  try { await access(f); return true } catch { return false }
}

interface Host { engine: PoolEngine, stateDir: string, unregister: () => void }
const running: Host[] = []

async function host (register = true): Promise<Host> {
  const stateDir = join(await tempDir('deploy-management'), 'state')
  const engine = createEngine({ host: HOST, stateDir, driver: new SimDriver() })
  await engine.start()
  const unregister = register ? registerConsoleHost({ host: HOST, stateDir, engine, driverName: 'sim', driver: new SimDriver() }) : () => {}
  const h = { engine, stateDir, unregister }
  running.push(h)
  return h
}

afterEach(async () => {
  for (const h of running.splice(0)) { h.unregister(); await h.engine.stop() }
})
afterAll(removeTempDirs)

describe('DeployManagement', () => {
  it('serves the console on its host while running, with the URL as an attribute, and stops on termination', async () => {
    const h = await host()
    const st = await h.engine.deploy('tutorial', pool())
    const c = st.components.find(x => x.path === 'console')!
    expect(c).toMatchObject({ type: 'DeployManagement', state: 'running', host: HOST, reason: expect.stringMatching(/^console at http:\/\/127\.0\.0\.1:\d+\/$/) })
    const url = h.engine.get('tutorial', 'console', 'consoleUrl') as string
    expect(c.reason).toBe(`console at ${url}`)
    const port = Number(new URL(url).port)

    const token = await readToken(h.stateDir)
    expect((await fetch(url)).status).toBe(401)
    const page = await fetch(`${url}pool?name=tutorial`, { headers: { authorization: `Bearer ${token}` } })
    expect(page.status).toBe(200)
    const html = await page.text()
    expect(html).toContain('console')
    expect(html).toContain('other')
    // No daemon console ran, so this one is what `sdpeer console` finds.
    expect((await readFile(join(h.stateDir, URL_FILE), 'utf8')).trim()).toBe(url)

    await h.engine.terminate('tutorial', 'normal')
    expect(await portAnswers(port)).toBe(false)
    expect(await exists(join(h.stateDir, URL_FILE))).toBe(false)
  })

  it('honours its listen attribute, and leaves the daemon console\'s console.url alone', async () => {
    const h = await host()
    await mkdir(h.stateDir, { recursive: true })
    await writeFile(join(h.stateDir, URL_FILE), 'http://127.0.0.1:1/\n', { mode: 0o600 })
    const probe = net.createServer()
    await new Promise<void>(resolve => probe.listen(0, '127.0.0.1', resolve))
    const free = (probe.address() as net.AddressInfo).port
    await new Promise<void>(resolve => probe.close(() => { resolve() }))

    await h.engine.deploy('p', pool({ listen: `127.0.0.1:${free}` }))
    expect(h.engine.get('p', 'console', 'consoleUrl')).toBe(`http://127.0.0.1:${free}/`)
    expect(await portAnswers(free)).toBe(true)
    expect(await readFile(join(h.stateDir, URL_FILE), 'utf8')).toBe('http://127.0.0.1:1/\n')
    await h.engine.terminate('p', 'normal')
    expect(await portAnswers(free)).toBe(false)
    expect(await readFile(join(h.stateDir, URL_FILE), 'utf8')).toBe('http://127.0.0.1:1/\n')
  })

  it('refuses a non-loopback listen address without public, failing the deploy with the component path', async () => {
    const h = await host()
    const err = await h.engine.deploy('p', pool({ listen: '0.0.0.0:0' })).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'EngineError', path: 'console' })
    expect(h.engine.status()).toEqual([])
  })

  it('closes its server when the daemon stops (halt), so the process can exit', async () => {
    const h = await host()
    await h.engine.deploy('p', pool())
    const port = Number(new URL(h.engine.get('p', 'console', 'consoleUrl') as string).port)
    await h.engine.stop()
    running.splice(running.indexOf(h), 1)
    h.unregister()
    await new Promise(resolve => setTimeout(resolve, 50))
    expect(await portAnswers(port)).toBe(false)
  })

  it('serves where the host\'s own console runs (a daemon\'s --console), and not once that console is closed', async () => {
    const h = await host(false)
    await mkdir(h.stateDir, { recursive: true })
    const daemonConsole = await startConsole({ listen: '127.0.0.1:0', host: HOST, driverName: 'sim', stateDir: h.stateDir, engine: h.engine, driver: new SimDriver() })
    try {
      await h.engine.deploy('p', pool())
      const url = h.engine.get('p', 'console', 'consoleUrl') as string
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/$/)
      expect(url).not.toBe(daemonConsole.url)
      // The daemon's console keeps console.url; the component's does not take it.
      expect((await readFile(join(h.stateDir, URL_FILE), 'utf8')).trim()).toBe(daemonConsole.url)
      await h.engine.terminate('p', 'normal')
    } finally {
      await daemonConsole.close()
    }
    const st = await h.engine.deploy('q', pool())
    expect(st.components.find(x => x.path === 'console')?.reason).toMatch(/placeholder: no console served/)
  })

  it('starts serving when its host\'s console comes up after it (a restarted daemon recovers pools first)', async () => {
    const h = await host(false)
    await mkdir(h.stateDir, { recursive: true })
    await h.engine.deploy('p', pool())
    expect(h.engine.status('p')[0]!.components.find(x => x.path === 'console')?.reason).toMatch(/placeholder/)
    const daemonConsole = await startConsole({ listen: '127.0.0.1:0', host: HOST, driverName: 'sim', stateDir: h.stateDir, engine: h.engine, driver: new SimDriver() })
    try {
      await waitFor(() => h.engine.status('p')[0]!.components.find(x => x.path === 'console')?.reason?.startsWith('console at ') === true)
      const port = Number(new URL(h.engine.get('p', 'console', 'consoleUrl') as string).port)
      expect(await portAnswers(port)).toBe(true)
      await h.engine.terminate('p', 'normal')
      expect(await portAnswers(port)).toBe(false)
    } finally {
      await daemonConsole.close()
    }
  })

  it('without a console context on its host (an engine with no daemon) runs as a placeholder and says so', async () => {
    const h = await host(false)
    const st = await h.engine.deploy('p', pool())
    expect(st.components.find(x => x.path === 'console')).toMatchObject({ state: 'running', reason: expect.stringMatching(/placeholder: no console served/) })
  })
})
