import { LiveComponent } from '../engine/component.ts'
// The console's server is loaded when a DeployManagement starts one, not with the component registry: a daemon
// that serves no console never carries node:http's server side (BENCHMARKS.md, mesh memory).
import { consoleHostFor, whenConsoleHost } from '../api/console/host-context.ts'
import type { ConsoleHostContext } from '../api/console/host-context.ts'
import type { RunningConsole } from '../api/console/index.ts'

// SmartFrog's management console (`console extends DeployManagement;`), which SmartDomains users deployed with their
// pool to watch it: here it serves sdpeer's web console on the component's host (its sfProcessHost) from start until
// termination. The console is the host's, showing every pool of the host's engine, as SmartFrog's showed the whole
// daemon. Attributes:
//   listen      ADDR:PORT to serve on (default 127.0.0.1:0: loopback, any free port; a non-loopback address needs
//               `public true`, as `sdpeer join --console-public` does)
//   public      true to allow a non-loopback listen address
// While it runs, the attribute `consoleUrl` holds the URL (without its token: `sdpeer console --state-dir DIR` or the
// daemon's STATE_DIR/console.token gives that; the token is never an attribute, since attributes travel and print).

export class DeployManagement extends LiveComponent {
  private server: RunningConsole | undefined
  /** Set when the host has no console context: the component then runs as a placeholder, as before it existed. */
  private missing: string | undefined
  /** Cancels the wait for the host's console (see serve). */
  private stopWaiting: (() => void) | undefined

  protected override async onStart (): Promise<void> {
    await this.serve()
  }

  protected override async onResume (): Promise<void> {
    // A restarted daemon: the old server died with the old process.
    await this.serve()
  }

  protected override async onTerminate (): Promise<void> {
    await this.close()
  }

  protected override onStopWatching (): void {
    // Daemon shutdown (halt) as well as termination: an open server would keep the stopped daemon's process alive.
    void this.close()
  }

  protected override note (): string | undefined {
    if (this.missing !== undefined) return this.missing
    return this.server === undefined ? undefined : `console at ${this.server.url}`
  }

  private async serve (): Promise<void> {
    const ctx = consoleHostFor(this.env.host)
    if (ctx === undefined) {
      // No console on this host (yet): the pool must still deploy. Serving starts if the host's console comes up
      // later, as after a daemon restart, which recovers its pools before it starts its console.
      this.missing = `placeholder: no console served; host ${this.env.host} serves none (its daemon runs without --console)`
      this.log('warn', this.missing)
      this.stopWaiting = whenConsoleHost(this.env.host, c => {
        this.stopWaiting = undefined
        if (this.isTerminating || this.state !== 'running') return
        this.open(c).catch(err => { this.log('error', `management console: ${(err as Error).message}`) })
      })
      return
    }
    await this.open(ctx)
  }

  private async open (ctx: ConsoleHostContext): Promise<void> {
    this.missing = undefined
    const listen = this.string('listen') ?? '127.0.0.1:0'
    const { startConsole } = await import('../api/console/index.ts')
    this.server = await startConsole({
      listen,
      public: this.bool('public', false),
      host: ctx.host,
      driverName: ctx.driverName,
      stateDir: ctx.stateDir,
      engine: ctx.engine,
      driver: ctx.driver,
      urlFile: 'if-absent',
      offerToComponents: false,
      ...(ctx.hosts ? { hosts: ctx.hosts } : {}),
      ...(ctx.images ? { images: ctx.images } : {}),
      ...(ctx.api ? { api: ctx.api } : {}),
      ...(ctx.clock ? { clock: ctx.clock } : {}),
      ...(ctx.log ? { log: ctx.log } : {})
    })
    this.attrs.consoleUrl = this.server.url
    this.touch()
    this.log('info', `management console at ${this.server.url} (open it with the token from \`sdpeer console --state-dir ${ctx.stateDir}\`)`)
  }

  private async close (): Promise<void> {
    this.stopWaiting?.()
    this.stopWaiting = undefined
    const s = this.server
    if (s === undefined) return
    this.server = undefined
    delete this.attrs.consoleUrl
    this.touch()
    await s.close()
  }
}
