import type { Cluster } from '../../simulations/cluster/cluster.ts'

/**
 * Polls `probe` every 100 ms until it gives a value (a throw counts as not yet). On timeout the error carries the
 * daemons' last log lines matching `logs`: what the mesh was doing instead.
 */
export async function until<T> (cluster: Cluster, what: string, timeoutMs: number, probe: () => Promise<T | undefined>, logs: RegExp): Promise<T> {
  const t0 = Date.now()
  for (;;) {
    const v = await probe().catch(() => undefined)
    if (v !== undefined) return v
    if (Date.now() - t0 > timeoutMs) {
      const lines = cluster.daemons.flatMap(d => d.stderr().split('\n').filter(l => logs.test(l)).map(l => `${d.host}: ${l.slice(0, 600)}`))
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\n${lines.slice(-40).join('\n')}`)
    }
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}
