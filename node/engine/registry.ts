import { BashShell } from '../components/bash-shell.ts'
import { Compound, Parallel } from '../components/compound.ts'
import { Prim } from '../components/prim.ts'
import { SchedulerComponent, ScheduleeComponent } from '../components/scheduler.ts'
import { CowStorageBackend, LVMStorageBackend, LoopbackStorageBackend } from '../components/storage-backend.ts'
import { DeployManagement } from '../components/deploy-management.ts'
import { XenDomain } from '../components/xen-domain.ts'
import { SF_CLASS } from '../sf/component-classes.ts'
import type { LiveComponent, ComponentInit } from './component.ts'

// sfClass -> implementation. SmartFrog's full class names (what the bundled library sets) and the short names
// (handy in hand-written JSON) both work. `VM` extends XenDomain in the library, so it arrives with XenDomain's class.

export type ComponentFactory = (init: ComponentInit) => LiveComponent

const BY_SHORT_NAME: Record<string, ComponentFactory> = {
  Prim: i => new Prim(i),
  Compound: i => new Compound(i),
  Parallel: i => new Parallel(i),
  BashShell: i => new BashShell(i),
  DeployManagement: i => new DeployManagement(i),
  XenDomain: i => new XenDomain(i),
  VM: i => new XenDomain(i),
  LVMStorageBackend: i => new LVMStorageBackend(i),
  LoopbackStorageBackend: i => new LoopbackStorageBackend(i),
  CowStorageBackend: i => new CowStorageBackend(i),
  Scheduler: i => new SchedulerComponent(i),
  Schedulee: i => new ScheduleeComponent(i)
}

export interface ComponentClass { type: string, factory: ComponentFactory }

export class ComponentRegistry {
  private readonly byClass = new Map<string, ComponentClass>()

  constructor (extra: Record<string, ComponentFactory> = {}) {
    for (const [short, factory] of Object.entries(BY_SHORT_NAME)) {
      const type = short === 'VM' ? 'XenDomain' : short
      this.byClass.set(short, { type, factory })
      const full = (SF_CLASS as Record<string, string>)[short]
      if (full) this.byClass.set(full, { type, factory })
    }
    for (const [name, factory] of Object.entries(extra)) this.byClass.set(name, { type: name.split('.').pop() ?? name, factory })
  }

  lookup (sfClass: string): ComponentClass | undefined {
    return this.byClass.get(sfClass)
  }
}
