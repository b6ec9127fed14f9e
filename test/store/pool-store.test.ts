import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterEach, beforeEach, describe, expect, it } from 'vitest'
import { readJsonFile, writeJsonAtomic } from '../../node/store/atomic-file.ts'
import type { StoreError } from '../../node/store/atomic-file.ts'
import { checkPoolName, PoolStore } from '../../node/store/pool-store.ts'
import type { PoolRecord } from '../../node/store/pool-store.ts'

let dir: string
beforeEach(async () => { dir = await mkdtemp(join(tmpdir(), 'sdpeer-store-')) })
afterEach(async () => { await rm(dir, { recursive: true, force: true }) })

const record = (pool: string, state: string): PoolRecord => ({ version: 1, pool, host: 'h', state, config: {}, components: {} })

describe('crash-safe JSON files', () => {
  it('replaces a file whole and leaves no temp files behind', async () => {
    const f = join(dir, 'sub', 'a.json')
    await writeJsonAtomic(f, { n: 1 })
    await writeJsonAtomic(f, { n: 2 })
    expect(await readJsonFile(f)).toEqual({ n: 2 })
    expect(await readdir(join(dir, 'sub'))).toEqual(['a.json'])
  })

  it('reads a missing file as undefined and a torn one as a StoreError naming it', async () => {
    expect(await readJsonFile(join(dir, 'none.json'))).toBeUndefined()
    await writeFile(join(dir, 'torn.json'), '{"n": ')
    const err = await readJsonFile(join(dir, 'torn.json')).then(() => undefined, (e: StoreError) => e)
    expect(err?.name).toBe('StoreError')
    expect(err?.file).toBe(join(dir, 'torn.json'))
  })
})

describe('PoolStore', () => {
  it('coalesces a burst of saves into few writes, each caller resolved once its snapshot is on disk', async () => {
    const store = new PoolStore(dir)
    let snapshots = 0
    let state = 0
    const saves: Array<Promise<void>> = []
    for (let i = 0; i < 50; i++) {
      state = i
      saves.push(store.save('p', () => { snapshots++; return record('p', `s${state}`) }))
    }
    await Promise.all(saves)
    expect(snapshots).toBeLessThanOrEqual(2)
    expect((await store.load('p'))?.state).toBe('s49')
  })

  it('lists pools in name order, skipping temp files, and removes them durably', async () => {
    const store = new PoolStore(dir)
    await store.save('b', () => record('b', 'running'))
    await store.save('a', () => record('a', 'deploying'))
    await writeFile(join(dir, 'pools', `.a.json.${process.pid + 1}.7.tmp`), 'left by a killed daemon')
    expect((await store.list()).map(r => r.pool)).toEqual(['a', 'b'])
    expect(await readdir(join(dir, 'pools'))).toEqual(['a.json', 'b.json'])
    await store.remove('a')
    expect((await store.list()).map(r => r.pool)).toEqual(['b'])
    expect(JSON.parse(await readFile(join(dir, 'pools', 'b.json'), 'utf8')).state).toBe('running')
  })

  it('refuses pool names that could leave the pools folder', () => {
    expect(checkPoolName('web-1.prod')).toBeUndefined()
    for (const bad of ['../x', 'a/b', '', '.hidden', 'x'.repeat(65), 'a b']) expect(checkPoolName(bad)).toMatch(/invalid pool name/)
    expect(() => new PoolStore(dir).fileOf('../etc')).toThrow(/invalid pool name/)
  })
})

describe('PoolStore.idle', () => {
  it('resolves only once every save asked for, on every pool, is on disk (unawaited saves included)', async () => {
    const store = new PoolStore(dir)
    for (let i = 0; i < 5; i++) {
      void store.save('a', () => record('a', `s${i}`))
      void store.save('b', () => record('b', `s${i}`))
    }
    await store.idle()
    expect((await store.load('a'))?.state).toBe('s4')
    expect((await store.load('b'))?.state).toBe('s4')
    await store.idle()
  })
})
