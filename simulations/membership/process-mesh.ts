import { execa } from 'execa'
import type { ResultPromise } from 'execa'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'

// Mesh peers as separate processes on 127.0.0.1 (simulations/membership/mesh-peer.ts), each with its own state
// dir; their membership events arrive as timestamped lines. Kill (SIGKILL), pause (SIGSTOP), resume, close.

const PEER_SCRIPT = new URL('./mesh-peer.ts', import.meta.url).pathname

export interface PeerEvent { event: string, peer?: string, at: number }

/** What a peer started with --stats-every last reported about itself. */
export interface PeerStats {
  mem: NodeJS.MemoryUsage
  /** V8 heap spaces: KiB used. */
  heap: Record<string, number>
  connections: number
  at: number
}

export interface SpawnOptions {
  /** Options for Node itself, before the script (e.g. --max-semi-space-size=2). */
  nodeArgs?: string[]
  /** Ask the peer for a stats line this often. */
  statsEveryMs?: number
  /** Extra environment (e.g. NODE_COMPILE_CACHE, as the sdpeer launcher enables it). */
  env?: Record<string, string>
}

export interface PeerProcess {
  host: string
  peerId: string
  addrs: string[]
  events: PeerEvent[]
  /** Hosts in its directory (itself included), as it last reported. */
  directorySize: number
  /** When it last reported a change of directorySize. */
  directoryAt: number
  stats?: PeerStats
  proc: ResultPromise
  killed: boolean
}

export class ProcessMesh {
  readonly peers: PeerProcess[] = []
  #base: string | undefined
  #listeners: Array<(p: PeerProcess, e: PeerEvent) => void> = []

  onEvent (fn: (p: PeerProcess, e: PeerEvent) => void): void { this.#listeners.push(fn) }

  /** Starts a peer process and resolves once it printed its id and addresses. */
  async spawn (host: string, bootstrap: string[] = [], options: SpawnOptions = {}): Promise<PeerProcess> {
    this.#base ??= await mkdtemp(join(tmpdir(), 'sdpeer-procmesh-'))
    const args = [...(options.nodeArgs ?? []), PEER_SCRIPT, '--host', host, '--state-dir', join(this.#base, host),
      ...bootstrap.flatMap(b => ['--bootstrap', b]),
      ...(options.statsEveryMs != null ? ['--stats-every', String(options.statsEveryMs)] : [])]
    // process.execPath: the Node 24 running us (the project's `node` devDependency), never the system one.
    const proc = execa(process.execPath, args, { stdout: 'pipe', stderr: 'inherit', reject: false, buffer: false, ...(options.env != null ? { env: options.env } : {}) })
    const lines = createInterface({ input: proc.stdout as NodeJS.ReadableStream })
    return await new Promise<PeerProcess>((resolve, reject) => {
      let peer: PeerProcess | undefined
      // Generous: on a loaded machine a Node process with libp2p can take many seconds to start.
      const timer = setTimeout(() => { proc.kill('SIGKILL'); reject(new Error(`peer ${host} did not start within 60 s`)) }, 60_000)
      void proc.then(r => { if (peer == null) { clearTimeout(timer); reject(new Error(`peer ${host} exited: ${String(r.exitCode ?? r.signal)}`)) } })
      lines.on('line', (line) => {
        let v: Record<string, unknown>
        try { v = JSON.parse(line) } catch { return }
        if (peer == null && typeof v.peerId === 'string') {
          peer = { host, peerId: v.peerId, addrs: v.addrs as string[], events: [], directorySize: 0, directoryAt: 0, proc, killed: false }
          this.peers.push(peer)
          clearTimeout(timer)
          resolve(peer)
          return
        }
        if (peer != null && v.event === 'directory') {
          peer.directorySize = v.size as number
          peer.directoryAt = v.at as number
          return
        }
        if (peer != null && v.event === 'stats') {
          peer.stats = v as unknown as PeerStats
          return
        }
        if (peer != null && typeof v.event === 'string') {
          const e = v as unknown as PeerEvent
          peer.events.push(e)
          for (const l of this.#listeners) l(peer, e)
        }
      })
    })
  }

  /** The latest status `observer` reported for `subject` (alive after a join), or undefined. */
  statusOf (observer: PeerProcess, subject: PeerProcess): string | undefined {
    for (let i = observer.events.length - 1; i >= 0; i--) {
      const e = observer.events[i]
      if (e.peer === subject.peerId) return e.event === 'join' ? 'alive' : e.event
    }
    return undefined
  }

  live (): PeerProcess[] { return this.peers.filter(p => !p.killed) }

  kill (p: PeerProcess): number {
    p.killed = true
    p.proc.kill('SIGKILL')
    return Date.now()
  }

  pause (p: PeerProcess): void { p.proc.kill('SIGSTOP') }
  resume (p: PeerProcess): void { p.proc.kill('SIGCONT') }

  async close (): Promise<void> {
    for (const p of this.peers) if (!p.killed) { p.proc.kill('SIGCONT'); p.proc.kill('SIGKILL') }
    await Promise.allSettled(this.peers.map(async p => await p.proc))
    if (this.#base != null) await rm(this.#base, { recursive: true, force: true })
  }
}
