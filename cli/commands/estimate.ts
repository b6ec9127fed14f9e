import { readFile } from 'node:fs/promises'
import { basename, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { API_OPTION, apiPath, withClient } from '../lib/api.ts'
import { ApiRemoteError } from '../../node/api/client.ts'
import { planScheduledHosts } from '../../node/scheduler/assign.ts'
import type { Plan } from '../../node/scheduler/assign.ts'
import { formatEstimate } from '../../node/scheduler/estimate-format.ts'
import { HostViewsError, parseHostViews } from '../../node/scheduler/host-views.ts'
import type { HostViewInput } from '../../node/scheduler/host-views.ts'
import { PoolDescriptionError } from '../../node/scheduler/pool-vms.ts'
import { checkFile } from '../../node/sf/index.ts'
import { isComponent } from '../../node/sf/sfjson.ts'
import type { SfJson, SfJsonObject } from '../../node/sf/sfjson.ts'
import { formatDiagnostic, SfFileNotFoundError } from '../../node/sf/diagnostics.ts'

export const summary = 'show, without deploying, where each scheduled VM would go and its cost on every candidate host'
export const usage = `sdpeer estimate FILE (--hosts-file F | --api PATH) [-I DIR]... [-D NAME=VALUE]... [--json] [--seed N]

Resolves FILE as \`sdpeer check\` does, then places every VM under a Schedulee as a deploy would (hard
constraints: the Scheduler's hosts, live, memory, vcpus, driver, image, requires; cost: image copy time plus the
host's load after placement; power-of-d among the feasible hosts), charging each placement before the next VM.
Nothing is reserved and no host is contacted: at deploy time each host still judges its own reservation.

Where the host view comes from:
  --hosts-file F   a JSON array of hosts as a mesh node sees them:
                   [{"hostNames": ["host1"], "state": "alive", "capacity": {"memoryMb": 8192, "vcpus": 8},
                     "load": {"memoryMb": 1024, "vcpus": 1, "domains": 1}, "driver": "xen",
                     "images": ["slc3"], "attributes": {"rack": "r1"}}, ...]
  --api PATH       the view of the daemon at PATH (control API op "hosts", what \`sdpeer hosts\` shows): live
                   peers with their announced capacity and load. Images and attributes are not announced yet,
                   so through --api every image counts as uncached and \`requires\` sees no host attribute.

  -I, --include DIR    also look for #include files in DIR
  -D NAME=VALUE        value of PROPERTY NAME
  --json               {"pool", "vms": [{"path", "memoryMiB", "vcpus", "host" | "error", "failures"?,
                       "candidates": [{"host", "cost", "copy", "share"}]}], "pinned": [{"path", "host"}]}
  --seed N             seed of the power-of-d draws (default 1): the same seed gives the same answer
  --pool NAME          pool name in messages (default: FILE's name without .sf)

Exit status: 0 every scheduled VM has a host; 1 some VM fits no host (each says which constraint failed on which
host), FILE does not resolve, or the daemon cannot be reached; 2 usage error or FILE not found.`

export async function run (argv: string[], io: CliIO): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      include: { type: 'string', short: 'I', multiple: true },
      define: { type: 'string', short: 'D', multiple: true },
      json: { type: 'boolean', default: false },
      seed: { type: 'string' },
      pool: { type: 'string' },
      'hosts-file': { type: 'string' },
      ...API_OPTION
    }
  })
  if (positionals.length !== 1) throw new UsageError(positionals.length === 0 ? 'missing FILE' : 'one FILE at a time')
  const hostsFile = values['hosts-file']
  if (hostsFile !== undefined && values.api !== undefined) throw new UsageError('--hosts-file and --api exclude each other')
  const seed = values.seed === undefined ? 1 : Number(values.seed)
  if (!Number.isSafeInteger(seed)) throw new UsageError(`--seed wants an integer, got ${JSON.stringify(values.seed)}`)
  const defines: Record<string, string> = {}
  for (const d of values.define ?? []) {
    const eq = d.indexOf('=')
    if (eq <= 0) throw new UsageError(`-D wants NAME=VALUE, got ${JSON.stringify(d)}`)
    defines[d.slice(0, eq)] = d.slice(eq + 1)
  }
  const file = positionals[0] as string
  const pool = values.pool ?? basename(file).replace(/\.sf$/, '')

  // The hosts first: a usage mistake there should not wait for a resolve.
  let hosts: HostViewInput[]
  if (hostsFile !== undefined) {
    let text: string
    try { text = await readFile(resolve(io.cwd, hostsFile), 'utf8') } catch (e) {
      io.stderr.write(`sdpeer estimate: cannot read ${hostsFile}: ${(e as Error).message}\n`)
      return 2
    }
    try { hosts = parseHostViews(JSON.parse(text), hostsFile) } catch (e) {
      if (!(e instanceof HostViewsError) && !(e instanceof SyntaxError)) throw e
      io.stderr.write(`sdpeer estimate: ${e instanceof SyntaxError ? `${hostsFile}: ${e.message}` : e.message}\n`)
      return 1
    }
  } else {
    const path = values.api !== undefined || io.env.SDPEER_API !== undefined ? apiPath(values.api, io) : undefined
    if (path === undefined) throw new UsageError('where do the hosts come from? pass --hosts-file F or --api PATH')
    let got: HostViewInput[] | undefined
    const status = await withClient('estimate', path, io, async client => {
      try {
        // Op "hosts" is not in the control API yet (see --help): the cast is the one place that knows it.
        const call = client.call.bind(client) as unknown as (op: string, params: object) => Promise<unknown>
        got = parseHostViews(await call('hosts', {}), `daemon at ${path}`)
        return 0
      } catch (e) {
        if (e instanceof ApiRemoteError && /op|unknown|unsupported/i.test(e.message)) {
          io.stderr.write(`sdpeer estimate: the daemon at ${path} does not serve its host view yet (op "hosts": ${e.message}); use --hosts-file\n`)
          return 1
        }
        if (e instanceof HostViewsError) { io.stderr.write(`sdpeer estimate: ${e.message}\n`); return 1 }
        throw e
      }
    })
    if (got === undefined) return status
    if ((got as HostViewInput[]).length === 0) {
      io.stderr.write(`sdpeer estimate: the daemon at ${path} knows no host with a capacity (is it running without a mesh?)\n`)
      return 1
    }
    hosts = got
  }

  let result
  try {
    result = checkFile(file, { cwd: io.cwd, includeDirs: values.include ?? [], defines, env: io.env })
  } catch (e) {
    if (e instanceof SfFileNotFoundError) { io.stderr.write(`sdpeer estimate: ${e.message}\n`); return 2 }
    throw e
  }
  if (result.config === undefined) {
    io.stderr.write(result.diagnostics.map(formatDiagnostic).join('\n') + '\n')
    return 1
  }
  let plan: Plan
  try {
    plan = planScheduledHosts(result.config, hosts, {
      seed,
      pool,
      imagesOf: v => (v as HostViewInput).images ?? [],
      attributesOf: v => (v as HostViewInput).attributes ?? {}
    })
  } catch (e) {
    if (e instanceof PoolDescriptionError || (e as Error).name === 'QuerySyntaxError') { io.stderr.write(`sdpeer estimate: ${(e as Error).message}\n`); return 1 }
    throw e
  }
  const failed = plan.rows.filter(r => r.error !== undefined).length
  if (values.json) {
    io.stdout.write(JSON.stringify({
      pool,
      vms: plan.rows.map(r => ({
        path: r.path,
        memoryMiB: r.demand.memoryMiB,
        vcpus: r.demand.vcpus,
        ...(r.demand.image !== undefined ? { image: r.demand.image } : {}),
        ...(r.host !== undefined ? { host: r.host, cost: round(r.cost as number) } : {}),
        ...(r.error !== undefined ? { error: r.error.message, failures: r.error.failures } : {}),
        candidates: r.candidates.map(c => ({ host: c.host, cost: round(c.cost), copy: round(c.copy), share: round(c.share) }))
      })),
      pinned: plan.pinned.map(p => ({ path: p.path, host: p.host }))
    }) + '\n')
  } else {
    if (plan.rows.length === 0) io.stdout.write(`${pool}: no Schedulee: nothing for the scheduler to place\n`)
    else {
      // The generated names of `--` children (unique24) say little: the guest's hostname goes with them.
      const label = (r: Plan['rows'][number]): string => {
        const hn = attrAt(result.config as SfJsonObject, r.path, 'hostname')
        return typeof hn === 'string' ? `${r.path} "${hn}"` : r.path
      }
      const vms = plan.rows.map(r => ({ ...r.demand, vmId: label(r) }))
      io.stdout.write(formatEstimate(vms, plan.rows.map(r => ({ vmId: label(r), ...(r.host !== undefined ? { host: r.host } : {}), ...(r.error !== undefined ? { error: r.error } : {}), costs: r.candidates }))))
    }
    for (const p of plan.pinned) io.stdout.write(`${p.path} (${p.demand.memoryMiB} MiB, ${p.demand.vcpus} vcpu${p.demand.vcpus === 1 ? '' : 's'}) -> ${p.host} (pinned by sfProcessHost)\n`)
    if (failed > 0) io.stderr.write(`${failed} VM${failed === 1 ? '' : 's'} fit no host\n`)
  }
  return failed > 0 ? 1 : 0
}

function attrAt (root: SfJsonObject, path: string, attr: string): SfJson | undefined {
  let node: SfJson | undefined = root
  for (const p of path.split(':')) node = node !== undefined && isComponent(node) ? node[p] : undefined
  return node !== undefined && isComponent(node) ? node[attr] : undefined
}

const round = (x: number): number => Math.round(x * 1000) / 1000
