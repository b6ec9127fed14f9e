import { readFile } from 'node:fs/promises'

// Identity of a qemu process across daemon restarts. A pid alone is not enough: after a reboot or a long run the
// pid may belong to another program, and signalling it would kill a stranger. /proc/PID/stat's start time (clock
// ticks since boot) together with the pid names one process for the machine's lifetime.

export interface ProcessIdentity {
  pid: number
  /** Field 22 of /proc/PID/stat. */
  startTime: string
}

interface ProcStat {
  state: string
  startTime: string
}

async function readStat (pid: number): Promise<ProcStat | undefined> {
  let text: string
  try {
    text = await readFile(`/proc/${pid}/stat`, 'utf8')
  } catch {
    return undefined
  }
  // The command name (field 2) is in parentheses and may itself hold spaces or parentheses: split after the last ')'.
  const rest = text.slice(text.lastIndexOf(')') + 2).split(' ')
  // rest[0] is field 3 (state); field 22 is rest[19].
  const state = rest[0]
  const startTime = rest[19]
  if (state === undefined || startTime === undefined) return undefined
  return { state, startTime }
}

export async function identify (pid: number): Promise<ProcessIdentity | undefined> {
  const stat = await readStat(pid)
  return stat === undefined ? undefined : { pid, startTime: stat.startTime }
}

/** True while the very process of `id` exists and has not exited (a zombie waiting for its parent counts as gone). */
export async function isAlive (id: ProcessIdentity): Promise<boolean> {
  if (!Number.isInteger(id.pid) || id.pid <= 1) return false
  const stat = await readStat(id.pid)
  return stat !== undefined && stat.startTime === id.startTime && stat.state !== 'Z' && stat.state !== 'X'
}

/** Signals the process group of `id` (qemu runs as its own group leader) only if it is still that process. */
export async function signalGroup (id: ProcessIdentity, signal: NodeJS.Signals): Promise<boolean> {
  if (!(await isAlive(id))) return false
  try {
    process.kill(-id.pid, signal)
    return true
  } catch {
    try {
      process.kill(id.pid, signal)
      return true
    } catch {
      return false
    }
  }
}
