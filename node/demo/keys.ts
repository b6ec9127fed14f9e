import { chmod, mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { createOperatorKey } from '../security/operator-key.ts'
import type { OperatorKey } from '../security/operator-key.ts'
import { createPoolKeyFile } from '../security/pool-key.ts'
import type { PoolKey } from '../security/pool-key.ts'
import { TrustStore } from '../security/trust-store.ts'

// What `sdpeer init` and `sdpeer trust add` do by hand on real hosts, done for the demo's throw-away mesh: one pool key
// shared by every host and one operator key trusted as admin by each. Both stay inside the demo's directory (never the
// operator's ~/.config), so removing that directory removes them.

export interface DemoKeys {
  poolKeyFile: string
  poolKey: PoolKey
  operator: OperatorKey
}

export async function makeDemoKeys (root: string, stateDirs: readonly string[]): Promise<DemoKeys> {
  const poolKeyFile = join(root, 'pool.key')
  const poolKey = await createPoolKeyFile(poolKeyFile)
  const operator = await createOperatorKey(join(root, 'operator.key'))
  for (const dir of stateDirs) {
    await mkdir(dir, { recursive: true, mode: 0o700 })
    await chmod(dir, 0o700)
    const trust = await TrustStore.open(dir)
    trust.add(operator.publicText, 'admin', ['*'], { comment: 'sdpeer demo' })
    await trust.save()
  }
  return { poolKeyFile, poolKey, operator }
}
