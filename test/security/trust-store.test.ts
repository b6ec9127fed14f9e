import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { generateOperatorKey } from '../../protocol/auth/index.ts'
import { TrustStore, TrustStoreError } from '../../node/security/trust-store.ts'

let dir: string
beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'sdpeer-trust-')) })
afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

describe('TrustStore', () => {
  it('starts empty without a file, persists what is added, and leaves no temp file behind', async () => {
    const state = join(dir, 'a')
    const s = await TrustStore.open(state)
    expect(s.exists).toBe(false)
    const k = generateOperatorKey().publicText
    expect(s.add(k, 'operator', ['web-*'])).toBe(true)
    await s.save()
    const again = await TrustStore.open(state)
    expect(again.exists).toBe(true)
    expect(again.lookup(k)).toEqual({ key: k, role: 'operator', pools: ['web-*'], added: expect.any(String) })
    expect(await readdir(state)).toEqual(['trust.json'])
  })

  it('a daemon\'s store sees another process\'s change through reloadIfChanged', async () => {
    const state = join(dir, 'b')
    const daemon = await TrustStore.open(state)
    const k = generateOperatorKey().publicText
    expect(daemon.lookup(k)).toBeUndefined()
    const cli = await TrustStore.open(state)
    cli.add(k, 'admin')
    await cli.save()
    expect(await daemon.reloadIfChanged()).toBe(true)
    expect(daemon.lookup(k)?.role).toBe('admin')
    expect(await daemon.reloadIfChanged()).toBe(false)
  })

  it('refuses a corrupt or hand-broken file with the file named, instead of trusting nobody silently', async () => {
    const state = join(dir, 'c')
    const s = await TrustStore.open(state)
    s.add(generateOperatorKey().publicText, 'viewer')
    await s.save()
    const cases = ['{"v":1,"keys":[{"key":"ed25519:x","role":"admin","pools":["*"],"added":""}]}', '{not json', '{"v":2,"keys":[]}',
      `{"v":1,"keys":[{"key":"${generateOperatorKey().publicText}","role":"god","pools":["*"],"added":""}]}`]
    for (const text of cases) {
      await writeFile(join(state, 'trust.json'), text)
      await expect(TrustStore.open(state)).rejects.toThrow(TrustStoreError)
      await expect(TrustStore.open(state)).rejects.toThrow(/trust\.json/)
    }
  })

  it('validates what is added', async () => {
    const s = await TrustStore.open(join(dir, 'd'))
    expect(() => s.add('ed25519:nope', 'admin')).toThrow(TrustStoreError)
    expect(() => s.add(generateOperatorKey().publicText, 'admin', [])).toThrow(/pools/)
    expect(() => s.add(generateOperatorKey().publicText, 'admin', ['../x'])).toThrow(/pools/)
  })
})
