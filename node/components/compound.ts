import { LiveComponent, isDown } from '../engine/component.ts'
import type { ChildHandle } from '../engine/component.ts'
import type { TerminationRecord } from '../engine/types.ts'
import { isEagerComponent } from '../sf/sfjson.ts'
import type { ComponentRecord } from '../store/pool-store.ts'

// Compound: deploys every eager CD attribute as a child, then starts them in attribute order; terminates them in
// reverse order. Parallel does each phase for all children at once (SmartFrog's asynchCreateChild pools).
// Termination is always one child at a time in reverse order, whatever sfSyncTerminate says: a domain must be down
// before the storage backend defined above it tears its volumes down. sfSyncTerminate decides shared fate only.

export class Compound extends LiveComponent {
  private readonly kids: ChildHandle[] = []
  /** Termination records of children that ended while this compound went on (sfSyncTerminate false). */
  readonly childRecords: TerminationRecord[] = []
  protected parallel = false

  override get children (): readonly ChildHandle[] { return this.kids }

  private createChildren (): void {
    if (this.kids.length) return
    for (const [name, v] of Object.entries(this.attrs)) {
      if (isEagerComponent(v)) this.kids.push(this.env.create(name, v, this))
    }
  }

  protected override async onDeploy (): Promise<void> {
    this.createChildren()
    await this.each(c => c.deploy())
  }

  protected override async onStart (): Promise<void> {
    await this.each(c => c.start())
  }

  private async each (fn: (c: ChildHandle) => Promise<void>): Promise<void> {
    if (this.parallel) {
      const results = await Promise.allSettled(this.kids.map(fn))
      const bad = results.find(r => r.status === 'rejected')
      if (bad) throw (bad as PromiseRejectedResult).reason
    } else {
      for (const c of this.kids) {
        if (this.isTerminating) return
        await fn(c)
      }
    }
  }

  protected override async onTerminate (record: TerminationRecord): Promise<void> {
    const errors: string[] = []
    for (const c of [...this.kids].reverse()) {
      if (isDown(c.state)) continue
      try {
        await c.terminate(record)
      } catch (err) {
        errors.push(`${c.path}: ${(err as Error).message}`)
      }
      if (c.state === 'failed' && record.path !== c.path) errors.push(`${c.path} failed to terminate cleanly`)
    }
    if (errors.length) throw new Error(errors.join('; '))
  }

  childTerminated (child: ChildHandle, record: TerminationRecord): void {
    if (this.isTerminating || isDown(this.state)) return
    if (this.bool('sfSyncTerminate', false)) {
      this.log(record.type === 'normal' ? 'info' : 'warn', `child ${child.path} terminated (${record.type}: ${record.reason}); terminating with it (sfSyncTerminate)`)
      void this.terminate(record)
    } else {
      this.childRecords.push(record)
      this.log(record.type === 'normal' ? 'info' : 'warn', `child ${child.path} terminated (${record.type}: ${record.reason})`)
      this.saveLater()
    }
  }

  protected override onRestore (records: Record<string, ComponentRecord>): void {
    this.createChildren()
    for (const c of this.kids) (c as LiveComponent).restore(records)
  }

  protected override async onResume (): Promise<void> {
    await Promise.all(this.kids.map(c => c.resume()))
  }
}

export class Parallel extends Compound {
  protected override parallel = true
}
