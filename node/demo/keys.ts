import { chmod, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { createOperatorKey } from '../security/operator-key.ts'
import type { OperatorKey } from '../security/operator-key.ts'
import { createPoolKeyFile } from '../security/pool-key.ts'
import type { PoolKey } from '../security/pool-key.ts'
import { TrustStore } from '../security/trust-store.ts'
import { loadOrCreateConsoleKey } from '../api/console/operator.ts'

// What `sdpeer init` and `sdpeer trust add` do by hand on real hosts, done for the demo's throw-away mesh: one pool key
// shared by every host, one operator key trusted as admin by each, and each host's console key trusted as operator.
// All stay inside the demo's directory (never the operator's ~/.config), so removing that directory removes them.

export interface DemoKeys {
  poolKeyFile: string
  poolKey: PoolKey
  operator: OperatorKey
}

export async function makeDemoKeys (root: string, stateDirs: readonly string[]): Promise<DemoKeys> {
  const poolKeyFile = join(root, 'pool.key')
  const poolKey = await createPoolKeyFile(poolKeyFile)
  const operator = await createOperatorKey(join(root, 'operator.key'))
  // Each host's console key made before its daemon starts (which then keeps it), and trusted as operator on every
  // host, so that the demo's consoles may change and terminate pools across the mesh.
  const consoleKeys: string[] = []
  for (const dir of stateDirs) {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await chmod(dir, 0o700)
    consoleKeys.push((await loadOrCreateConsoleKey(dir)).publicText)
  }
  for (const dir of stateDirs) {
    const trust = await TrustStore.open(dir)
    trust.add(operator.publicText, 'admin', ['*'], { comment: 'sdpeer demo' })
    for (const [i, key] of consoleKeys.entries()) trust.add(key, 'operator', ['*'], { comment: `sdpeer demo: console of ${stateDirs[i]}` })
    await trust.save()
  }
  return { poolKeyFile, poolKey, operator }
}
