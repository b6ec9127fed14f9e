import { LiveComponent } from '../engine/component.ts'
import { isComponent, isEagerComponent } from '../sf/sfjson.ts'
import { Compound } from './compound.ts'

// The Scheduler and the Schedulee as live components. Their work is done before they exist: the deploying peer
// placed every child of the Schedulee (node/scheduler/assign.ts, then the split) and the hosts admitted them. What
// is left at run time is to say so in the status, so an operator reading `sdpeer status` sees where each scheduled
// VM went, or that it was not scheduled at all (a deploy without a mesh runs the children here).

/** Holds the Scheduler's settings (`hosts`: the only hosts it may use; every live host without it). */
export class SchedulerComponent extends LiveComponent {
  protected override note (): string {
    const hosts = this.attrs.hosts
    return Array.isArray(hosts) && hosts.length > 0
      ? `places Schedulee VMs on ${hosts.filter(h => typeof h === 'string').join(', ')}`
      : 'places Schedulee VMs on any live host of the mesh'
  }
}

/** A Compound whose VM children were placed by the scheduler at deploy time. */
export class ScheduleeComponent extends Compound {
  protected override note (): string {
    const placed: string[] = []
    let here = 0
    for (const [name, v] of Object.entries(this.attrs)) {
      // A child that went to another peer is a placeholder naming its host (node/deploy/split.ts).
      const remote = isComponent(v) && v.$data === true && isComponent(v.$remote) ? v.$remote : undefined
      if (remote !== undefined && typeof remote.host === 'string') placed.push(`${name} on ${remote.host}`)
      else if (isEagerComponent(v)) {
        if (typeof v.sfProcessHost === 'string') placed.push(`${name} on ${v.sfProcessHost}`)
        else here++
      }
    }
    if (placed.length === 0 && here > 0) return 'not scheduled (deployed without the mesh): its children run on this host'
    return `scheduled: ${placed.join(', ')}${here > 0 ? `; ${here} unscheduled here` : ''}`
  }
}
