import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { checkFile } from '../../node/sf/index.ts'
import { formatDiagnostic } from '../../node/sf/diagnostics.ts'
import type { SfJsonObject } from '../../node/sf/sfjson.ts'

// The pool the mesh benchmarks deploy (mesh-daemons.ts, mesh-memory.ts --deploy): sim VMs with no boot time and no
// storage, so that what is measured is the mesh, not a hypervisor.

/** One pool of `vms` sim VMs, round-robin over the hosts, each computer a Compound with its own shell. */
export async function poolConfig (hosts: string[], vms: number, dir: string): Promise<SfJsonObject> {
  const lines = ['#include "org/smartfrog/components.sf"', '#include "ch/cern/openlab/smartdomains/components.sf"',
    '#include "org/smartfrog/services/shellscript/components.sf"', '', 'sfConfig extends Compound {']
  hosts.forEach((h, k) => {
    lines.push(`    computer${k} extends Compound { sfProcessHost "${h}"; myShell extends BashShell;`)
    for (let i = k; i < vms; i += hosts.length) {
      lines.push(`        vm${i} extends XenDomain { shell LAZY ATTRIB myShell; kernel "/boot/vmlinuz"; domainName "bench${i}"; ip "10.1.${i >> 8}.${i & 255}"; hostname "bench${i}"; memory 16; simBootMs 0; domainLivenessCheck false; }`)
    }
    lines.push('    }')
  })
  lines.push('}', '')
  const file = join(dir, 'bench.sf')
  await writeFile(file, lines.join('\n'))
  const r = checkFile(file, { cwd: dir })
  if (r.config === undefined) {
    for (const d of r.diagnostics) console.error(formatDiagnostic(d))
    throw new Error('the bench pool does not resolve')
  }
  return r.config
}
