// The `sfClass` of every component sdpeer can deploy. The bundled library (node/sf/library/) sets them and the
// engine maps them to implementations. SmartFrog's own class names are kept where SmartFrog has the component, so a
// description resolved against SmartFrog's library files (`-I .../smartfrog/src`) deploys the same.

export const SF_CLASS = {
  Prim: 'org.smartfrog.sfcore.prim.PrimImpl',
  Compound: 'org.smartfrog.sfcore.compound.CompoundImpl',
  Parallel: 'org.smartfrog.sfcore.workflow.combinators.Parallel',
  BashShell: 'org.smartfrog.services.shellscript.SFScriptExecutionImpl',
  DeployManagement: 'org.smartfrog.services.management.DeployManagementImpl',
  XenDomain: 'ch.cern.openlab.smartdomains.XenDomainImpl',
  LVMStorageBackend: 'ch.cern.openlab.smartdomains.LVMStorageBackendImpl',
  LoopbackStorageBackend: 'ch.cern.openlab.smartdomains.LoopbackStorageBackendImpl',
  CowStorageBackend: 'ch.cern.openlab.smartdomains.CowStorageBackendImpl',
  Scheduler: 'ch.cern.openlab.smartdomains.SchedulerImpl',
  Schedulee: 'ch.cern.openlab.smartdomains.ScheduleeImpl'
} as const

export type SfClassName = keyof typeof SF_CLASS
