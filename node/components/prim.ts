import { LiveComponent } from '../engine/component.ts'

// Prim does nothing: a leaf with a lifecycle (SmartFrog's Prim), the base of data-only components.

export class Prim extends LiveComponent {}
