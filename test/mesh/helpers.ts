import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createMeshNode } from '../../node/mesh/node.ts'
import type { MeshNode, MeshNodeInit } from '../../node/mesh/node.ts'

/** Real libp2p mesh nodes on 127.0.0.1, each with its own state dir, all stopped and removed by close(). */
export class TestMesh {
  readonly nodes: MeshNode[] = []
  #base: string | undefined

  async dir (name: string): Promise<string> {
    this.#base ??= await mkdtemp(join(tmpdir(), 'sdpeer-mesh-'))
    return join(this.#base, name)
  }

  async add (host: string, init: Partial<MeshNodeInit> = {}): Promise<MeshNode> {
    const node = await createMeshNode({ host, stateDir: await this.dir(host), ...init })
    await node.start()
    this.nodes.push(node)
    return node
  }

  async close (): Promise<void> {
    await Promise.allSettled(this.nodes.map(async n => { await n.stop() }))
    if (this.#base != null) await rm(this.#base, { recursive: true, force: true })
  }
}

/** Polls `pred` every 50 ms; resolves with the elapsed ms, or rejects after `timeoutMs` naming `what`. */
export async function waitFor (what: string, pred: () => boolean, timeoutMs = 15_000): Promise<number> {
  const start = Date.now()
  while (!pred()) {
    if (Date.now() - start > timeoutMs) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 50))
  }
  return Date.now() - start
}

export function aliveView (node: MeshNode, others: MeshNode[]): boolean {
  return others.every(o => o === node || node.membership.member(o.peerId)?.status === 'alive')
}
