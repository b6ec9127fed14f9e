import { LiveComponent } from '../engine/component.ts'
import { Compound } from './compound.ts'

// Prim does nothing: a leaf with a lifecycle. The scheduler and console components are placeholders until their
// engineers fill them; they deploy, run and say in their status that they do nothing yet.

export class Prim extends LiveComponent {}

export class PlaceholderPrim extends LiveComponent {
  protected override note (): string {
    return `placeholder: ${this.type} does nothing yet`
  }
}

/** A Schedulee's children are VMs: until the scheduler lands they are deployed here, unscheduled. */
export class PlaceholderSchedulee extends Compound {
  protected override note (): string {
    return 'placeholder: Schedulee does not schedule yet; its children are deployed on this host'
  }
}
