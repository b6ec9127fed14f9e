import { describe, expect, it } from 'vitest'
import { checkText } from '../../node/sf/index.ts'
import { poolVms, PoolDescriptionError } from '../../node/scheduler/pool-vms.ts'
import { estimate } from '../../node/scheduler/placement.ts'
import { formatEstimate } from '../../node/scheduler/estimate-format.ts'
import { seededRandom } from '../../node/scheduler/random.ts'
import { host } from './helpers.ts'

const HEAD = `#include "org/smartfrog/components.sf"
#include "ch/cern/openlab/smartdomains/components.sf"
VM extends XenDomain { kernel "/k"; netmask "255.0.0.0"; gateway "192.0.2.254"; ip "192.0.2.1"; }
`

function resolve (body: string) {
  const r = checkText(HEAD + body, 'pool.sf')
  const errors = r.diagnostics.filter(d => d.severity === 'error')
  expect(errors.map(e => e.message)).toEqual([])
  return r.config!
}

describe('scheduled and pinned VMs of a resolved pool', () => {
  it('takes the base image from the storage backend, and pinned VMs from sfProcessHost', () => {
    const config = resolve(`sfConfig extends Compound {
  lvm extends DATA { baseImage "slc3"; imageSizeMiB 2000; }
  s extends Scheduler { hosts [||]; } // empty: every live host (the schema requires the attribute)
  workers extends Schedulee { scheduler LAZY ATTRIB s;
    w1 extends VM { hostname "w1"; memory 1024; vcpus 2; storageBackend LAZY ATTRIB lvm; }
  }
  db extends VM { hostname "db"; memory 2048; sfProcessHost "host7"; }
}`)
    const { scheduled, pinned } = poolVms('p', config)
    expect(scheduled.map(s => s.demand)).toEqual([{ pool: 'p', vmId: 'workers/w1', memoryMiB: 1024, vcpus: 2, image: 'slc3', imageSizeMiB: 2000 }])
    expect(scheduled[0].spec).toEqual({})
    expect(pinned).toEqual([{ host: 'host7', demand: { pool: 'p', vmId: 'db', memoryMiB: 2048, vcpus: 1 } }])
  })

  it('places a computer (a compound with its disk and its VMs) whole: the sum of its VMs, its disk\'s image', () => {
    const config = resolve(`sfConfig extends Compound {
  s extends Scheduler;
  workers extends Schedulee { scheduler LAZY ATTRIB s;
    c1 extends Compound {
      disk extends CowStorageBackend { baseImage "image:slc3"; domainName "c1"; }
      vm extends VM { hostname "c1"; memory 1024; vcpus 2; storageBackend LAZY ATTRIB disk; }
      helper extends VM { hostname "c1h"; memory 256; }
    }
    notes extends Compound { text extends DATA { x 1; } }
  }
}`)
    const { scheduled } = poolVms('p', config)
    expect(scheduled.map(s => s.demand)).toEqual([{ pool: 'p', vmId: 'workers/c1', memoryMiB: 1280, vcpus: 3, image: 'image:slc3' }])
  })

  it('refuses a Schedulee child that names its own host', () => {
    const config = resolve(`sfConfig extends Compound {
  s extends Scheduler { hosts [|"a"|]; }
  workers extends Schedulee { scheduler LAZY ATTRIB s; w1 extends VM { hostname "w1"; sfProcessHost "a"; } }
}`)
    expect(() => poolVms('p', config)).toThrow(PoolDescriptionError)
  })

  it('formats an estimate: chosen host, costs per candidate, or the failed constraint', () => {
    const vms = [
      { pool: 'p', vmId: 'w1', memoryMiB: 1024, vcpus: 1, image: 'slc3', imageSizeMiB: 2000 },
      { pool: 'p', vmId: 'big', memoryMiB: 9000, vcpus: 1 }
    ]
    const rows = estimate(vms, {}, [host('a', { images: ['slc3'] }), host('b')], { random: seededRandom(1) })
    const text = formatEstimate(vms, rows)
    expect(text).toContain('w1 (1024 MiB, 1 vcpu, image slc3) -> a')
    expect(text).toMatch(/\* a +cost +25\.\d\d +\(share after 25%, image cached\)/)
    expect(text).toMatch(/ {3}b +cost +45\.\d\d +\(share after 25%, copy 20\.0 s\)/)
    expect(text).toContain('big (9000 MiB, 1 vcpu): NO HOST FITS\n    memory: needs 9000 MiB, best host a has 4096 free (2 hosts)')
  })
})
