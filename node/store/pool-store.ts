import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { readJsonFile, removeFileDurable, StoreError, writeFileAtomic, writeJsonAtomic } from './atomic-file.ts'

// One file per pool under stateDir/pools/: the pool's resolved config, the state of each component and what each
// component created on the host (driver handle, storage record), so a restarted daemon can re-attach or clean up.
// Writes are coalesced: while one write runs, later saves collapse into a single next write of the newest snapshot,
// and every caller's promise resolves only once a write containing its snapshot is on disk.

export interface ComponentRecord {
  type: string
  state: string
  reason?: string
  /** Component-specific durable data (driver handle, storage record, intents). */
  saved?: Record<string, unknown>
  /** Attributes changed at run time with `set`. */
  overrides?: Record<string, unknown>
}

export interface PoolRecord {
  version: 1
  pool: string
  host: string
  state: string
  config: unknown
  components: Record<string, ComponentRecord>
  termination?: { type: string, reason: string, path: string }
}

const POOL_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

export function checkPoolName (pool: string): string | undefined {
  return POOL_NAME.test(pool) ? undefined : `invalid pool name ${JSON.stringify(pool)}: letters, digits, ".", "_", "-", at most 64`
}

interface Pending { snapshot: () => PoolRecord | string, waiters: Array<{ resolve: () => void, reject: (e: unknown) => void }> }

export class PoolStore {
  readonly dir: string
  private readonly writing = new Map<string, Promise<void>>()
  private readonly pending = new Map<string, Pending>()

  constructor (stateDir: string) {
    this.dir = join(stateDir, 'pools')
  }

  fileOf (pool: string): string {
    const bad = checkPoolName(pool)
    if (bad) throw new StoreError(pool, bad)
    return join(this.dir, `${pool}.json`)
  }

  /**
   * `snapshot` is called when the write actually happens, so the newest state is what lands on disk. It may return
   * the record's JSON text already made (the engine builds it from cached pieces).
   */
  save (pool: string, snapshot: () => PoolRecord | string): Promise<void> {
    return new Promise((resolve, reject) => {
      let p = this.pending.get(pool)
      if (!p) { p = { snapshot, waiters: [] }; this.pending.set(pool, p) }
      p.snapshot = snapshot
      p.waiters.push({ resolve, reject })
      if (!this.writing.has(pool)) this.pump(pool)
    })
  }

  private pump (pool: string): void {
    const p = this.pending.get(pool)
    if (!p) { this.writing.delete(pool); return }
    this.pending.delete(pool)
    const run = (async () => {
      try {
        const snap = p.snapshot()
        if (typeof snap === 'string') await writeFileAtomic(this.fileOf(pool), snap)
        else await writeJsonAtomic(this.fileOf(pool), snap)
        for (const w of p.waiters) w.resolve()
      } catch (err) {
        for (const w of p.waiters) w.reject(err)
      }
    })()
    this.writing.set(pool, run)
    void run.then(() => this.pump(pool))
  }

  /** Resolves once no write is in flight or queued for any pool (a stopping daemon must not lose the last ones). */
  async idle (): Promise<void> {
    while (this.writing.size > 0) await Promise.all([...this.writing.values()])
  }

  /** Waits for writes in flight, then removes the pool's file. */
  async remove (pool: string): Promise<void> {
    while (this.writing.has(pool)) await this.writing.get(pool)
    await removeFileDurable(this.fileOf(pool))
  }

  async load (pool: string): Promise<PoolRecord | undefined> {
    return await readJsonFile(this.fileOf(pool)) as PoolRecord | undefined
  }

  async list (): Promise<PoolRecord[]> {
    let names: string[]
    try {
      names = await readdir(this.dir)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return []
      throw err
    }
    const out: PoolRecord[] = []
    for (const n of names.sort()) {
      // A temp file of another (killed) process is a write that never happened: the target still holds the last one.
      const temp = /^\.[^/]+\.json\.(\d+)\.\d+\.tmp$/.exec(n)
      if (temp && Number(temp[1]) !== process.pid) { await rm(join(this.dir, n), { force: true }); continue }
      if (!n.endsWith('.json') || n.startsWith('.')) continue
      const rec = await readJsonFile(join(this.dir, n)) as PoolRecord | undefined
      if (rec && rec.version === 1) out.push(rec)
    }
    return out
  }
}
