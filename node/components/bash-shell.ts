import { LiveComponent } from '../engine/component.ts'
import { formatArgv } from '../seams/execa-shell.ts'
import type { Shell, ShellCommand, ShellResult } from '../seams/shell.ts'

// BashShell: the one way a component runs host commands. It owns a Shell (a queue, argument arrays, timeouts);
// every command and its output lands in this component's log. Components that use it (`shell LAZY ATTRIB myShell`)
// get it through shellOf(), which also writes the commands into the user's own log.

export class BashShell extends LiveComponent {
  private shell: Shell | undefined

  get commands (): Shell {
    this.shell ??= this.env.makeShell(this.path, line => this.transcript(line))
    return this.shell
  }

  protected override async onDeploy (): Promise<void> {
    void this.commands
  }
}

/** The shell a component uses: its `shell` attribute's BashShell, else the engine's default shell. */
export function shellOf (c: LiveComponent): Shell {
  const target = Object.hasOwn(c.attrs, 'shell') ? c.component('shell') : undefined
  let inner: Shell
  if (target) {
    if (!(target instanceof BashShell)) throw new Error(`attribute shell leads to ${target.path}, a ${target.type}, not a BashShell`)
    inner = target.commands
  } else {
    inner = c.env.makeShell(c.path, line => c.transcript(line))
    return inner
  }
  return {
    async run (cmd: ShellCommand): Promise<ShellResult> {
      c.transcript(`$ ${formatArgv([cmd.file, ...cmd.args])} (via ${target.path})`)
      try {
        return await inner.run(cmd)
      } catch (err) {
        c.log('error', (err as Error).message)
        throw err
      }
    }
  }
}
