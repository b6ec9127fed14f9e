import { mkdir, readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, describe, expect, it } from 'vitest'
import { SimDriver } from '../../node/drivers/sim.ts'
import { createEngine } from '../../node/engine/index.ts'
import type { PoolEngine } from '../../node/engine/index.ts'
import { ExecaShell } from '../../node/seams/execa-shell.ts'
import type { Shell, ShellCommand, ShellResult } from '../../node/seams/shell.ts'
import { ManualClock } from '../seams/manual-clock.ts'
import { bashShell, compound, domain, filesUnder, lazy, removeTempDirs, storage, tempDir, waitFor } from './fixtures.ts'

// A daemon killed while an LVM backend prepares its volumes: the volumes live outside the work dir, so only the
// intent recorded before the first lvcreate lets the next daemon remove them. The kill is simulated in-process: the
// first engine is abandoned while a command hangs, on a manual clock whose lazy saves never fire, so the state dir
// holds exactly what was written and awaited before the "kill" (as after a SIGKILL). LVM is the recording stand-in of
// test/fixtures/bin (device-mapper does not work here): volumes are files under DEV/VG.

const standins = fileURLToPath(new URL('../fixtures/bin', import.meta.url))

afterAll(removeTempDirs)

interface Setup { dir: string, dev: string, record: string, env: Record<string, string> }

async function setup (): Promise<Setup> {
  const dir = await tempDir('lvm-intent')
  const dev = join(dir, 'dev')
  await mkdir(join(dev, 'vg0'), { recursive: true })
  const record = join(dir, 'lvm.jsonl')
  return { dir, dev, record, env: { PATH: `${standins}:${process.env.PATH}`, SDPEER_RECORD: record, SDPEER_LVM_DEV: dev, SDPEER_NODE: process.execPath } }
}

/** A shell whose command `hangOn` never returns (the daemon dies while it runs); `reached` says when it began. */
function hangingShell (s: Setup, hangOn: string, reached: () => void) {
  return (_path: string, log: (line: string) => void): Shell => {
    const inner = new ExecaShell({ log, env: s.env })
    return {
      run (cmd: ShellCommand): Promise<ShellResult> {
        if (cmd.file === hangOn) { reached(); return new Promise(() => {}) }
        return inner.run(cmd)
      }
    }
  }
}

function engineOn (s: Setup, shell: (path: string, log: (line: string) => void) => Shell, clock = new ManualClock()): PoolEngine {
  return createEngine({ host: 'h1', stateDir: join(s.dir, 'state'), driver: new SimDriver({ clock }), clock, lvm: { devDir: s.dev, volumeGroup: 'vg0' }, shell })
}

function pool (): ReturnType<typeof compound> {
  return compound({
    myShell: bashShell(),
    lvm: storage('LVM', { domainName: 'domLVM', volumeGroup: 'vg0', volumeSize: '8M', swapSize: '4M', makeFs: true }),
    vm: domain({ ip: '192.0.2.10', hostname: 'dom1', storageBackend: lazy('ATTRIB lvm'), domainLivenessCheck: false })
  })
}

async function lvmCalls (s: Setup): Promise<string[]> {
  const text = await readFile(s.record, 'utf8').catch(() => '')
  return text.split('\n').filter(l => l !== '').map(l => (JSON.parse(l) as { argv: string[] }).argv.join(' '))
}

describe('LVM volumes of a daemon killed during prepare', () => {
  for (const hangOn of ['mkfs.ext4', 'mkswap']) {
    it(`are removed by the next daemon (killed while ${hangOn} ran)`, async () => {
      const s = await setup()
      let hung = false
      const first = engineOn(s, hangingShell(s, hangOn, () => { hung = true }))
      await first.start()
      void first.deploy('p', pool()).catch(() => {})
      await waitFor(() => hung, 30_000)
      // The "kill": the first engine is abandoned here, its hung command never returns, its lazy saves never run.
      const made = await filesUnder(s.dev)
      expect(made).toContain('vg0/domLVM-disk')
      if (hangOn === 'mkswap') expect(made).toContain('vg0/domLVM-swap')

      const second = engineOn(s, (_p, log) => new ExecaShell({ log, env: s.env }))
      await second.recover()
      const st = second.status('p')[0]
      expect(st?.termination?.reason).toMatch(/daemon restarted while the pool was/)
      expect(await filesUnder(s.dev)).toEqual([])
      expect(await filesUnder(join(s.dir, 'state', 'storage'))).toEqual([])
      expect(await readdir(join(s.dir, 'state', 'pools'))).toEqual([])
      const calls = await lvmCalls(s)
      expect(calls.filter(c => c.startsWith('lvremove'))).toEqual(
        hangOn === 'mkswap' ? ['lvremove -f vg0/domLVM-disk', 'lvremove -f vg0/domLVM-swap'] : ['lvremove -f vg0/domLVM-disk'])
      await second.stop()
    })
  }

  it('an intent never removes a volume that existed before (the deploy refuses it before recording anything)', async () => {
    const s = await setup()
    // Another user's volume of the same name.
    const { writeFile } = await import('node:fs/promises')
    await writeFile(join(s.dev, 'vg0', 'domLVM-disk'), 'not ours')
    const e = engineOn(s, (_p, log) => new ExecaShell({ log, env: s.env }))
    await e.start()
    await expect(e.deploy('p', pool())).rejects.toThrow(/already exists/)
    expect(await filesUnder(s.dev)).toEqual(['vg0/domLVM-disk'])
    expect(await readFile(join(s.dev, 'vg0', 'domLVM-disk'), 'utf8')).toBe('not ours')
    expect((await lvmCalls(s)).filter(c => c.startsWith('lvremove') || c.startsWith('lvcreate'))).toEqual([])
    await e.stop()
  })
})
