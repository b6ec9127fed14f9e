import { mkdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { LiveComponent } from '../engine/component.ts'
import type { StorageKind } from '../engine/component.ts'
import type { TerminationRecord } from '../engine/types.ts'
import { EngineError } from '../engine/types.ts'
import { isRef } from '../sf/sfjson.ts'
import type { SfJson } from '../sf/sfjson.ts'
import type { PreparedStorage, StorageBackend, TeardownOptions } from '../storage/types.ts'
import { shellOf } from './bash-shell.ts'
import { checkAbsolutePath, checkDomainName, checkFileName, checkImageExtension } from './validate.ts'

// A storage backend component prepares its guest's disks when it starts and tears them down when it terminates,
// reading keepVolumes and saveImage* at that moment (so `sdpeer set ... saveImage true` on a running pool counts).
// Those attributes may also be set on the XenDomain that uses the backend (the tutorial's console sets them on the
// VM): an attribute the domain has wins over the backend's own, which still applies when the domain has none.
// Every step is recorded in the pool's durable state before it acts, so a restarted daemon can finish it.

const SCALARS = ['domainName', 'baseImage', 'volumeGroup', 'volumeSize', 'swapSize', 'volumeBaseName',
  'usingExistingVolumes', 'makeFs', 'tempMountPoint', 'keepVolumes']

export class StorageBackendComponent extends LiveComponent {
  protected kind: StorageKind = 'loopback'
  private backend: StorageBackend | undefined
  private readyWaiters: Array<{ resolve: (p: PreparedStorage) => void, reject: (e: unknown) => void }> = []
  private prepareError: unknown
  /** The domain whose disks these are (it attaches itself): its termination-time attributes count at teardown. */
  private user: LiveComponent | undefined

  attachDomain (domain: LiveComponent): void {
    this.user = domain
  }

  get workDir (): string {
    return join(this.env.storageDir, this.pool, ...this.path.split(':'))
  }

  get prepared (): PreparedStorage | undefined {
    return this.saved.prepared as PreparedStorage | undefined
  }

  /** The domain name the guest takes from its backend ("the domain takes its name from its storage backend"). */
  domainName (): string | undefined {
    return this.string('domainName')
  }

  /** What the volumes (and a saved image) are named after: domainName, else volumeBaseName, else the component. */
  volumeName (): string {
    return this.domainName() ?? this.string('volumeBaseName') ?? this.name
  }

  /** Resolves once the disks are ready (the domain waits here when siblings start in parallel). */
  ready (): Promise<PreparedStorage> {
    if (this.prepared) return Promise.resolve(this.prepared)
    if (this.prepareError !== undefined) return Promise.reject(this.prepareError)
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }))
  }

  protected override async onDeploy (): Promise<void> {
    const name = this.domainName()
    const bad = name === undefined ? undefined : checkDomainName('domainName', name)
    if (bad) throw new EngineError(bad, this.pool, this.path)
    this.teardownOptions()
  }

  protected override async onStart (): Promise<void> {
    try {
      // No intent is saved before preparing: the work dir is derived from the path, so recovery removes it anyway.
      this.saved = { kind: this.kind, workDir: this.workDir, preparing: true }
      await mkdir(this.workDir, { recursive: true })
      const backend = await this.getBackend()
      const intend = async (record: Record<string, unknown>): Promise<void> => {
        this.saved = { kind: this.kind, workDir: this.workDir, preparing: true, intent: record }
        await this.env.persist()
      }
      const prepared = await backend.prepare({ shell: shellOf(this), workDir: this.workDir, signal: this.terminationSignal, intend })
      this.saved = { kind: this.kind, workDir: this.workDir, prepared }
      // LVM volumes live outside the work dir: only their record lets a restarted daemon remove them.
      if (this.kind === 'lvm') await this.env.persist(); else this.saveLater()
      this.log('info', `prepared ${prepared.disks.map(d => `${d.role}=${d.path}`).join(' ')}`)
      for (const w of this.readyWaiters.splice(0)) w.resolve(prepared)
    } catch (err) {
      this.prepareError = err
      for (const w of this.readyWaiters.splice(0)) w.reject(err)
      throw err
    }
  }

  /** Used when the domain failed to start: the image goes too ("if start of domU fails, the image is also deleted"). */
  async discard (reason: string): Promise<void> {
    this.log('warn', `discarding storage: ${reason}`)
    await this.teardown({ keepVolumes: false })
  }

  protected override async onTerminate (_record: TerminationRecord): Promise<void> {
    await this.teardown(this.teardownOptions())
  }

  private async teardown (options: TeardownOptions): Promise<void> {
    let prepared = this.prepared
    const intent = this.saved.intent as Record<string, unknown> | undefined
    if (!prepared && intent) {
      // Killed (or failed) in the middle of prepare: what the intent names may exist, half made and never handed to
      // a guest. It goes, whatever keepVolumes and saveImage say; the backend's teardown skips volumes not present.
      this.log('warn', 'removing the volumes of an interrupted prepare')
      prepared = { disks: [], record: intent }
      options = { keepVolumes: false }
    }
    if (prepared) {
      const backend = await this.getBackend()
      if (options.saveImageTo) await mkdir(join(options.saveImageTo, '..'), { recursive: true })
      await backend.teardown({ shell: shellOf(this), workDir: this.workDir }, prepared, options)
      this.log('info', `torn down${options.keepVolumes ? ' (volumes kept)' : ''}${options.saveImageTo ? `, image saved to ${options.saveImageTo}` : ''}`)
    }
    // Without a record (killed while preparing, or the record's write lost) the work dir is all there is to remove;
    // it is left alone when it may hold volumes of an earlier run (usingExistingVolumes).
    if (!options.keepVolumes && (prepared || !this.bool('usingExistingVolumes', false))) await rm(this.workDir, { recursive: true, force: true })
    this.saved = options.keepVolumes && prepared ? { ...this.saved, kept: true, prepared: undefined } : {}
    this.saveLater()
  }

  /** keepVolumes and saveImage* as the live attributes say now; throws on values unfit for a path. */
  teardownOptions (): TeardownOptions {
    const keepVolumes = this.from('keepVolumes').bool('keepVolumes', false)
    if (!this.from('saveImage').bool('saveImage', false)) return { keepVolumes }
    const dir = this.from('saveImagePath').string('saveImagePath') ?? join(this.env.storageDir, 'saved')
    const name = this.from('saveImageName').string('saveImageName') ?? this.volumeName()
    const ext = (this.from('saveImageExtension').string('saveImageExtension') ?? 'tar.gz').replace(/^\./, '')
    const problem = (attr: string, bad: string | undefined): EngineError | undefined => {
      if (bad === undefined) return undefined
      const at = this.from(attr)
      return new EngineError(bad, this.pool, at.path)
    }
    const err = problem('saveImagePath', checkAbsolutePath('saveImagePath', dir)) ?? problem('saveImageName', checkFileName('saveImageName', name)) ??
      problem('saveImageExtension', checkImageExtension('saveImageExtension', ext))
    if (err) throw err
    return { keepVolumes, saveImageTo: join(dir, `${name}.${ext}`) }
  }

  /** Where a termination-time attribute is read: the domain when it has it, else this backend. */
  private from (attr: string): LiveComponent {
    return this.user !== undefined && Object.hasOwn(this.user.attrs, attr) ? this.user : this
  }

  private async getBackend (): Promise<StorageBackend> {
    if (this.backend) return this.backend
    const attrs: Record<string, SfJson> = {}
    for (const k of SCALARS) {
      if (Object.hasOwn(this.attrs, k) || (isRef(this.attrs[k] ?? null))) {
        const v = this.value(k)
        if (v !== undefined) attrs[k] = v
      }
    }
    for (const k of Object.keys(this.attrs)) {
      if (/^(sim|qemu|lvm|cow|loop)[A-Z]/.test(k) && attrs[k] === undefined) attrs[k] = this.value(k) ?? null
    }
    // The backends name their files after the domain; a backend without domainName (lvmVm.sf) goes by its volumes.
    attrs.domainName ??= this.volumeName()
    this.backend = await this.env.makeStorage(this.kind, attrs, { pool: this.pool, path: this.path, workDir: this.workDir })
    return this.backend
  }
}

export class LoopbackStorageBackend extends StorageBackendComponent {
  protected override kind: StorageKind = 'loopback'
}

export class LVMStorageBackend extends StorageBackendComponent {
  protected override kind: StorageKind = 'lvm'
}

export class CowStorageBackend extends StorageBackendComponent {
  protected override kind: StorageKind = 'cow'
}
