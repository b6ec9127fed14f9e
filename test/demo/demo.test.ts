import { access, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import net from 'node:net'
import { fileURLToPath } from 'node:url'
import { execa } from 'execa'
import { describe, expect, it } from 'vitest'
import { ApiClient } from '../../node/api/client.ts'
import type { PoolStatus } from '../../node/engine/types.ts'
import { csrfFor } from '../../node/api/console/token.ts'

// `sdpeer demo` as an operator runs it: a child process, its "ready" line, the console and the pools checked from
// outside, then SIGINT, after which no daemon (by pid), socket, console port or file may be left.

// The bin a user runs (`npx sdpeer demo`).
const SDPEER = fileURLToPath(new URL('../../cli/sdpeer.js', import.meta.url))

function alive (pid: number): boolean {
  try { process.kill(pid, 0); return true } catch { return false }
}

async function exists (path: string): Promise<boolean> {
  try { await access(path); return true } catch { return false }
}

async function portAnswers (port: number): Promise<boolean> {
  return await new Promise(resolve => {
    const s = net.connect({ host: '127.0.0.1', port })
    s.once('connect', () => { s.destroy(); resolve(true) })
    s.once('error', () => { resolve(false) })
  })
}

describe('sdpeer demo', () => {
  it('comes up in under 10 s, serves the console, runs both pools, and leaves nothing after SIGINT', async () => {
    const started = performance.now()
    const demo = execa(process.execPath, [SDPEER, 'demo'], { reject: false, stdin: 'ignore' })
    let out = ''
    let exited = false
    const ready = new Promise<number>((resolve, reject) => {
      demo.stdout.on('data', (chunk: Buffer) => {
        out += chunk.toString('utf8')
        if (/^sdpeer demo: ready in /m.test(out)) resolve(performance.now() - started)
      })
      void demo.then(r => { exited = true; reject(new Error(`demo exited (${r.exitCode}) before ready:\n${out}\n${String(r.stderr)}`)) })
    })
    try {
      const ms = await ready
      console.log(`sdpeer demo ready after ${(ms / 1000).toFixed(1)} s (process start to "ready" line)`)
      expect(ms).toBeLessThan(10_000)

      const root = /^sdpeer demo: starting \d+ daemons \(driver sim\) in (\S+)$/m.exec(out)?.[1]
      expect(root).toBeDefined()
      const hosts = [...out.matchAll(/(machine\d+\.cern\.ch) \(pid (\d+), api (\S+)\)/g)].map(m => ({ name: m[1]!, pid: Number(m[2]), api: m[3]! }))
      expect(hosts.map(h => h.name)).toEqual(['machine9.cern.ch', 'machine10.cern.ch', 'machine11.cern.ch'])
      for (const h of hosts) expect(alive(h.pid)).toBe(true)
      expect(out).not.toContain('not deployed')

      // The console of the deploying host answers with the printed token (and refuses without it).
      const consoleUrl = new URL(/^sdpeer demo: console\s+(\S+)$/m.exec(out)![1]!)
      const token = consoleUrl.searchParams.get('token')!
      const base = `${consoleUrl.origin}/`
      expect((await fetch(base)).status).toBe(401)
      const page = await fetch(base, { headers: { authorization: `Bearer ${token}` } })
      expect(page.status).toBe(200)
      expect(await page.text()).toContain('tutorial')

      // The tutorial's `console extends DeployManagement` serves a console of its own on the deploying host.
      const dm = new URL(/^sdpeer demo: the tutorial's DeployManagement console\s+(\S+)$/m.exec(out)![1]!)
      expect(dm.port).not.toBe(consoleUrl.port)
      const dmPage = await fetch(`${dm.origin}/pool?name=tutorial`, { headers: { authorization: `Bearer ${dm.searchParams.get('token')!}` } })
      expect(dmPage.status).toBe(200)
      expect(await dmPage.text()).toContain('data-component="console"')

      // The console acts across the mesh: its key is trusted on every host, so machine9 (owner of computer1)
      // accepts an attribute change made from machine11's console.
      const set = await fetch(`${base}api/set`, {
        method: 'POST',
        headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', 'x-sdpeer-csrf': csrfFor(token) },
        body: JSON.stringify({ pool: 'tutorial', path: 'computer1:domain1', attr: 'extra', value: '"console=ttyS0"' })
      })
      expect(set.status, await set.clone().text()).toBe(200)

      // Both pools run, the tutorial's computers on the hosts their sfProcessHost names.
      const client = await ApiClient.connect(hosts[2]!.api)
      let pools: PoolStatus[]
      try { pools = await client.call('status', {}) } finally { client.close() }
      const byName = new Map(pools.map(p => [p.pool, p]))
      expect(byName.get('tutorial')?.state).toBe('running')
      expect(byName.get('scheduled')?.state).toBe('running')
      const tutorial = byName.get('tutorial')!
      expect(tutorial.components.find(c => c.path === 'computer1:domain1')?.host).toBe('machine9.cern.ch')
      expect(tutorial.components.find(c => c.path === 'computer2:domain2')?.host).toBe('machine10.cern.ch')
      expect(tutorial.components.every(c => c.state === 'running')).toBe(true)
      const note = await ApiClient.connect(hosts[0]!.api)
      try {
        expect((await note.call('get', { pool: 'tutorial', path: 'computer1:domain1', attr: 'extra' })).value).toBe('console=ttyS0')
      } finally { note.close() }

      demo.kill('SIGINT')
      const result = await demo
      expect(result.exitCode).toBe(0)
      expect(String(result.stdout)).toContain('pool tutorial terminated')
      expect(String(result.stdout)).toContain('pool scheduled terminated')
      for (const h of hosts) {
        expect(alive(h.pid)).toBe(false)
        expect(await exists(h.api)).toBe(false)
      }
      expect(await portAnswers(Number(consoleUrl.port))).toBe(false)
      expect(await portAnswers(Number(dm.port))).toBe(false)
      expect(await exists(root!)).toBe(false)
    } finally {
      // A failed check must not leave the demo and its daemons running: the same SIGINT tears them down.
      if (!exited && demo.exitCode === null) { demo.kill('SIGINT'); await demo }
    }
  }, 60_000)

  it('runs on product code alone: nothing under node/, cli/ or protocol/ refers to test/', async () => {
    const repo = fileURLToPath(new URL('../../', import.meta.url))
    const offenders: string[] = []
    for (const top of ['node', 'cli', 'protocol']) {
      for (const rel of await readdir(join(repo, top), { recursive: true })) {
        if (!/\.(ts|mjs|js)$/.test(rel)) continue
        const text = await readFile(join(repo, top, rel), 'utf8')
        // A path into test/ in a string or import (comments may mention the tests).
        if (/['"`][^'"`\n]*\btest\/(fixtures|e2e|console|demo)\b/.test(text)) offenders.push(`${top}/${rel}`)
      }
    }
    expect(offenders).toEqual([])
  })
})
