import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { main } from '../../cli/main.ts'
import { InsecureStartError, loadHostSecurity } from '../../node/security/startup.ts'
import { createPoolKeyFile } from '../../node/security/pool-key.ts'

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'sdpeer-startup-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('loadHostSecurity (secure by default)', () => {
  it('refuses a state dir with no pool key or no trust store, naming what is missing', async () => {
    const state = join(dir, 'empty')
    await expect(loadHostSecurity({ stateDir: state, now: 0 })).rejects.toThrow(InsecureStartError)
    await expect(loadHostSecurity({ stateDir: state, now: 0 })).rejects.toThrow(/no pool key .* and no trust store/)
    await createPoolKeyFile(join(state, 'pool.key'))
    await expect(loadHostSecurity({ stateDir: state, now: 0 })).rejects.toThrow(/^state dir .*: no trust store/)
  })

  it('starts with --insecure, saying so in its warnings', async () => {
    const s = await loadHostSecurity({ stateDir: join(dir, 'insecure'), insecure: true, now: 0 })
    expect(s.insecure).toBe(true)
    expect(s.poolKey).toBeUndefined()
    expect(s.warnings[0]).toMatch(/^running INSECURE: no pool key/)
  })

  it('after sdpeer init, starts secure with no further flags; the replay cache refuses requests from before the start', async () => {
    const state = join(dir, 'init')
    const sink = new Writable({ write (_c, _e, cb) { cb() } })
    expect(await main(['init', '--state-dir', state, '--host', 'h1'], { stdout: sink, stderr: sink, env: { XDG_CONFIG_HOME: join(dir, 'xdg') }, cwd: dir })).toBe(0)
    const s = await loadHostSecurity({ stateDir: state, allowPaths: ['/srv/images', 'ro:/boot'], now: 5000 })
    expect(s.insecure).toBe(false)
    expect(s.warnings).toEqual([])
    expect(s.poolKey?.psk).toHaveLength(32)
    expect(s.trust.size).toBe(1)
    expect(s.allowed).toEqual({ read: ['/srv/images', '/boot'], write: ['/srv/images'] })
    expect(s.replay.admit('x', 4999, 9999, 5000)).toBe('replayed')
  })
})
