import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { existsSync } from 'node:fs'
import { mkdir, rm } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { chromium } from 'playwright-core'
import type { Browser } from 'playwright-core'
import type { DaemonProcess } from '../e2e/harness.ts'
import { sdpeer, sdpeerProcess, startDaemon } from '../e2e/harness.ts'
import { HOSTILE, workDir } from './fixture.ts'
import { readFile } from 'node:fs/promises'
import { Cluster } from '../../simulations/cluster/cluster.ts'
import { CONSOLE_KEY_FILE } from '../../node/api/console/operator.ts'
import { loadOperatorKey } from '../../node/security/operator-key.ts'
import { TrustStore } from '../../node/security/trust-store.ts'
import { SF_CLASS } from '../../node/sf/component-classes.ts'

// The console in a real browser (Debian's chromium driven by playwright-core) against a real `sdpeer join` process:
// log in with the URL `sdpeer console` prints, click to the pool and a component, modify an attribute (checked with
// `sdpeer get`), terminate that component (the rest runs on), then the pool, and watch states change without a reload.

const CHROMIUM = '/usr/bin/chromium'
const REPO = fileURLToPath(new URL('../../', import.meta.url))
const SCREENSHOT = resolve(REPO, 'test-results/console.png')

let dir: string
let daemon: DaemonProcess | undefined
let browser: Browser | undefined
let cluster: Cluster | undefined

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`${CHROMIUM} is missing: install Debian's "chromium" package (apt-get install chromium); the console's browser test needs it`)
  }
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
      '--disable-component-update', '--disable-sync']
  })
}, 60_000)

afterAll(async () => {
  await browser?.close()
  await cluster?.stop()
  if (daemon) {
    daemon.proc.kill('SIGTERM')
    await daemon.exited
  }
  if (dir) await rm(dir, { recursive: true, force: true })
})

describe('the console in chromium', () => {
  it('clicks through a deployed pool, modifies an attribute, terminates a component, then the pool, live', async () => {
    const w = await workDir('browser')
    dir = w.dir
    const stateDir = join(dir, 'state')
    daemon = await startDaemon('h1', stateDir, ['--console', '127.0.0.1:0'])
    const dep = await sdpeer(daemon.api, ['deploy', w.pool, '--name', 'web', '--wait'])
    expect(dep.code, dep.stderr).toBe(0)

    // The real binary, as an operator runs it.
    const printed = await sdpeerProcess(['console', '--state-dir', stateDir])
    expect(printed.code, printed.stderr).toBe(0)
    const loginUrl = printed.stdout.trim()
    expect(loginUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/\?token=[A-Za-z0-9_-]{43}$/)

    const page = await browser!.newPage({ viewport: { width: 1200, height: 900 } })
    const problems: string[] = []
    page.on('pageerror', e => { problems.push(String(e)) })
    page.on('dialog', d => { problems.push(`dialog: ${d.message()}`); void d.dismiss() })

    await page.goto(loginUrl)
    expect(new URL(page.url()).search).toBe('')
    await page.locator('#live', { hasText: 'live' }).waitFor({ timeout: 10_000 })

    // A pool deployed while the list is open appears on it, live.
    const later = await sdpeer(daemon.api, ['deploy', w.pool, '--name', 'later', '--wait'])
    expect(later.code, later.stderr).toBe(0)
    await page.locator('.state[data-pool="later"][data-path=""]', { hasText: 'running' }).waitFor({ timeout: 10_000 })
    expect((await sdpeer(daemon.api, ['terminate', 'later'])).code).toBe(0)
    await page.locator('.state[data-pool="later"][data-path=""]', { hasText: 'terminated' }).waitFor({ timeout: 10_000 })

    await page.getByRole('link', { name: 'web', exact: true }).click()
    await page.waitForURL(/\/pool\?name=web$/)
    await expect(page.locator('li.component[data-component="vm1"] > .state').textContent()).resolves.toBe('running')
    // The hostile attribute is shown as text and ran nothing (no dialog, no error).
    await page.locator('li.component[data-component=""] > details > summary').first().click()
    await expect(page.locator('li.component[data-component=""] > details dt:text-is("note") + dd code').textContent()).resolves.toBe(JSON.stringify(HOSTILE))

    await page.locator('li.component[data-component="vm1"] > .name a').click()
    await page.waitForURL(/\/component\?pool=web&path=vm1$/)
    const memory = page.locator('tr[data-attr="memory"]')
    await expect(memory.locator('code.value').textContent()).resolves.toBe('64')

    // A value the engine refuses: the error is shown and nothing changes.
    await memory.locator('input[name="value"]').fill('"lots"')
    await memory.getByRole('button', { name: 'Modify' }).click()
    await memory.locator('output.error', { hasText: 'EngineError' }).waitFor({ timeout: 5000 })
    await memory.locator('input[name="value"]').fill('96')
    await memory.getByRole('button', { name: 'Modify' }).click()
    await memory.locator('code.value', { hasText: '96' }).waitFor({ timeout: 5000 })
    const got = await sdpeer(daemon.api, ['get', 'web:vm1', 'memory'])
    expect(got.stdout.trim()).toBe('96')
    // A change made elsewhere (the CLI) shows up in the table live.
    expect((await sdpeer(daemon.api, ['set', 'web:vm1', 'extra', '"console=ttyS0 <b>"'])).code).toBe(0)
    await page.locator('tr[data-attr="extra"] code.value', { hasText: '"console=ttyS0 <b>"' }).waitFor({ timeout: 5000 })

    await mkdir(resolve(REPO, 'test-results'), { recursive: true })
    await page.screenshot({ path: resolve(REPO, 'test-results/console-component.png'), fullPage: true })

    // Terminate this one component: its parent (sfSyncTerminate false) records it and the pool runs on.
    await page.evaluate(() => { (window as unknown as { notReloaded: boolean }).notReloaded = true })
    await page.getByRole('button', { name: 'Terminate NORMAL' }).click()
    await page.locator('output.result', { hasText: 'web:vm1 terminated; pool running' }).waitFor({ timeout: 10_000 })
    await page.locator('.facts .state[data-path="vm1"]', { hasText: 'terminated' }).waitFor({ timeout: 10_000 })
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true)
    const after = JSON.parse((await sdpeer(daemon.api, ['status', 'web', '--json'])).stdout) as { state: string, components: Array<{ path: string, state: string }> }
    expect(after.state).toBe('running')
    expect(after.components.map(c => `${c.path}=${c.state}`)).toEqual(['=running', 'myShell=running', 'vm1=terminated'])

    await page.getByRole('link', { name: '← pool web' }).click()
    await page.waitForURL(/\/pool\?name=web$/)
    await page.locator('#live', { hasText: 'live' }).waitFor({ timeout: 10_000 })
    await expect(page.locator('li.component[data-component="vm1"] > .state').textContent()).resolves.toBe('terminated')
    await expect(page.locator('li.component[data-component="myShell"] > .state').textContent()).resolves.toBe('running')
    await page.screenshot({ path: resolve(REPO, 'test-results/console-component-terminated.png'), fullPage: true })
    // A marker that a reload would wipe: the states below must change under it.
    await page.evaluate(() => { (window as unknown as { notReloaded: boolean }).notReloaded = true })
    await page.getByRole('button', { name: 'Terminate NORMAL' }).click()
    await page.locator('li.component[data-component="myShell"] > .state', { hasText: 'terminated' }).waitFor({ timeout: 10_000 })
    await page.locator('p .state[data-path=""]', { hasText: 'terminated' }).waitFor({ timeout: 10_000 })
    await page.locator('output.result', { hasText: 'pool web terminated' }).waitFor({ timeout: 10_000 })
    expect(await page.evaluate(() => (window as unknown as { notReloaded?: boolean }).notReloaded)).toBe(true)
    // Terminated pools are forgotten by the engine once down.
    const pools = JSON.parse((await sdpeer(daemon.api, ['status', '--json'])).stdout) as Array<{ pool: string }>
    expect(pools.map(p => p.pool)).not.toContain('web')

    await page.screenshot({ path: SCREENSHOT, fullPage: true })
    console.log(`console screenshot: ${SCREENSHOT}`)
    expect(problems).toEqual([])
    await page.close()
  }, 90_000)

  it('shows a secure daemon\'s refusal of an untrusted console key, and the change once an admin trusts it', async () => {
    // A daemon set up as an operator would (pool key, trust store naming the cluster's operator), not --insecure.
    cluster = await Cluster.start({ hosts: [{ host: 'machine9.cern.ch', args: ['--console', '127.0.0.1:0'] }] })
    const d = cluster.daemon(0)
    await cluster.call(0, 'deploy', { pool: 'secure', wait: true, config: { sfClass: SF_CLASS.Compound, vm: { sfClass: SF_CLASS.Prim, size: 1 } } })
    const url = (await readFile(join(d.stateDir, 'console.url'), 'utf8')).trim()
    const token = (await readFile(join(d.stateDir, 'console.token'), 'utf8')).trim()
    const key = (await loadOperatorKey(join(d.stateDir, CONSOLE_KEY_FILE))).publicText

    const page = await browser!.newPage({ viewport: { width: 1200, height: 700 } })
    await page.goto(`${url}?token=${token}`)
    await page.goto(`${url}component?pool=secure&path=vm`)
    const size = page.locator('tr[data-attr="size"]')
    await size.locator('input[name="value"]').fill('7')
    await size.getByRole('button', { name: 'Modify' }).click()
    const refusal = size.locator('output.error', { hasText: 'ConsoleAuthError' })
    await refusal.waitFor({ timeout: 10_000 })
    expect(await refusal.textContent()).toContain(`sdpeer trust add ${key} --role operator`)
    await mkdir(resolve(REPO, 'test-results'), { recursive: true })
    const shot = resolve(REPO, 'test-results/console-refused.png')
    await page.screenshot({ path: shot, fullPage: true })
    console.log(`console refusal screenshot: ${shot}`)
    expect((await cluster.call(0, 'get', { pool: 'secure', path: 'vm', attr: 'size' })).value).toBe(1)

    const trust = await TrustStore.open(d.stateDir)
    trust.add(key, 'operator', ['*'], { comment: 'the console of machine9' })
    await trust.save()
    await size.getByRole('button', { name: 'Modify' }).click()
    await size.locator('code.value', { hasText: '7' }).waitFor({ timeout: 10_000 })
    expect((await cluster.call(0, 'get', { pool: 'secure', path: 'vm', attr: 'size' })).value).toBe(7)
    await page.close()
  }, 90_000)
})
