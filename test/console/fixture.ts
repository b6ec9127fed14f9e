import { mkdtemp, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import { SF_CLASS } from '../../node/sf/component-classes.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'

// A small pool for console tests: a shell and one sim domain without storage, plus a root attribute that is hostile
// markup (the console must show it as text). sfSyncTerminate false: terminating vm1 leaves the rest running.

export const HOSTILE = '<script>alert(1)</script> & "q"'

export function poolSf (extraVm = ''): string {
  return `#include "org/smartfrog/components.sf"
#include "ch/cern/openlab/smartdomains/components.sf"
#include "org/smartfrog/services/shellscript/components.sf"

sfConfig extends Compound {
    sfSyncTerminate false;
    note ${JSON.stringify(HOSTILE)};
    myShell extends BashShell;
    vm1 extends XenDomain {
        shell LAZY ATTRIB myShell;
        kernel "/boot/vmlinuz-2.6-xen";
        memory 64;
        hostname "guest-one";
        ip "10.0.9.1";
        gateway "10.0.0.1";
        netmask "255.255.0.0";
        ${extraVm}
    }
}
`
}

export async function workDir (prefix: string): Promise<{ dir: string, pool: string }> {
  const dir = await mkdtemp(join(tmpdir(), `sdpeer-${prefix}-`))
  const pool = join(dir, 'pool.sf')
  await writeFile(pool, poolSf())
  return { dir, pool }
}

/** Swallows the daemon's log lines (kept for a failing test's message). */
export function quietLog (): Writable & { text: () => string } {
  let text = ''
  const w = new Writable({ write (c, _e, cb) { text += String(c); cb() } }) as Writable & { text: () => string }
  w.text = () => text
  return w
}

/** Reads server-sent events from a fetch response until `until` returns true for one of them or the time is up. */
export async function readEvents (res: Response, until: (e: Record<string, unknown>) => boolean, ms = 10_000): Promise<Array<Record<string, unknown>>> {
  const reader = res.body!.getReader()
  const decoder = new TextDecoder()
  const seen: Array<Record<string, unknown>> = []
  let buffer = ''
  const deadline = Date.now() + ms
  try {
    while (Date.now() < deadline) {
      const chunk = await Promise.race([reader.read(), new Promise<null>(resolve => setTimeout(() => { resolve(null) }, deadline - Date.now()))])
      if (chunk === null || chunk.done) break
      buffer += decoder.decode(chunk.value, { stream: true })
      let i
      while ((i = buffer.indexOf('\n\n')) >= 0) {
        const block = buffer.slice(0, i)
        buffer = buffer.slice(i + 2)
        for (const line of block.split('\n')) {
          if (!line.startsWith('data: ')) continue
          const e = JSON.parse(line.slice(6)) as Record<string, unknown>
          seen.push(e)
          if (until(e)) return seen
        }
      }
    }
    throw new Error(`the awaited event did not come; saw ${JSON.stringify(seen)}`)
  } finally {
    await reader.cancel().catch(() => {})
  }
}

/** A pool with a part on machine9.cern.ch (computer1, whose worker has `size 1`) and the rest on the deploying host. */
export const MESH_POOL: SfJsonObject = {
  sfClass: SF_CLASS.Compound,
  here: { sfClass: SF_CLASS.Prim },
  computer1: { sfClass: SF_CLASS.Compound, sfProcessHost: 'machine9.cern.ch', worker: { sfClass: SF_CLASS.Prim, size: 1 } }
}
