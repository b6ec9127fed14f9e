// A daemon stand-in for the SIGKILL-and-restart test: creates an engine with the sim driver (whose domain table
// lives in a file, as real guests outlive a daemon), deploys the pool given as JSON and prints one line per event
// the test waits on, then waits to be killed. Run with `npx node test/engine/kill-target.ts ARGS_JSON`; the test
// spawns process.execPath (Node 24) directly so that SIGKILL reaches the engine, not an npx wrapper.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { SimDriver } from '../../node/drivers/sim.ts'
import { createEngine, defaultStorageFactory } from '../../node/engine/index.ts'
import type { StorageFactory } from '../../node/engine/index.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'

const args = JSON.parse(process.argv[2] ?? '{}') as { stateDir: string, simState: string, pool: string, config: SfJsonObject }

// `simBlockPrepare true` on a storage backend: it creates a file, says so, and never finishes (killed mid-prepare).
const real = defaultStorageFactory()
const storage: StorageFactory = (kind, attrs, info) => {
  if (attrs.simBlockPrepare !== true) return real(kind, attrs, info)
  return {
    kind,
    async prepare (ctx) {
      await writeFile(join(ctx.workDir, 'partial.img'), 'half')
      process.stdout.write(`BLOCKED ${info.path}\n`)
      return await new Promise(() => {})
    },
    async teardown () { throw new Error('never prepared') }
  }
}

const engine = createEngine({
  host: 'h1',
  stateDir: args.stateDir,
  driver: new SimDriver({ stateFile: args.simState }),
  storage
})
await engine.start()
engine.onEvent(e => { if (e.kind === 'state') process.stdout.write(`STATE ${e.path || '-'} ${e.state ?? ''}\n`) })
engine.deploy(args.pool, args.config).then(
  () => process.stdout.write('RUNNING\n'),
  (err: Error) => process.stdout.write(`FAILED ${err.message}\n`)
)
setInterval(() => {}, 1 << 30)
