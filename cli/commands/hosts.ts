import { parseArgs } from 'node:util'
import type { CliIO } from '../command.ts'
import { UsageError } from '../command.ts'
import { API_OPTION, API_USAGE, apiPath, withClient } from '../lib/api.ts'
import { printable, table } from '../lib/status-format.ts'
import type { HostEntry } from '../../node/api/messages.ts'
import { runForget } from '../lib/hosts-forget.ts'

export const summary = 'list the hosts of the mesh as this daemon sees them'
export const usage = `sdpeer hosts [--json] [--api PATH]
sdpeer hosts forget NAME [--peer ID] [--json] [--api PATH]

Every host this daemon knows: from its signed announcement (names, addresses, capacity, load, driver, version)
joined with this daemon's failure detector (SWIM with Lifeguard).

  STATE      self (this daemon), alive, suspect (missed probes; dead unless it refutes within the suspicion
             timeout), dead, or unknown (announced but not yet probed)
  CAPACITY   memory MiB / vcpus offered to guests;  LOAD: memory MiB / vcpus reserved or in use, and domains
  HEARD      seconds since the last announcement or membership change heard
  BAD        misbehaviour: malformed, oversized or forged messages received from that peer
  A host whose line says INSECURE runs without a pool key or a trust store (--insecure); every peer announces it.
  Host names claimed by more than one peer are listed after the table as conflicts.

  --json     {"self": {"peerId", "host", "addrs", "insecure", "poolKey"?}, "hosts": [{"peerId", "hostNames",
             "addrs", "state", "capacity"?, "load"?, "driver"?, "version"?, "lastHeard"?, "incarnation"?,
             "misbehaviour", "images"?, "insecure"?}], "conflicts": [{"host", "peers"}]}; lastHeard is wall-clock ms.

sdpeer hosts forget NAME: resolve a host-name conflict (two peer ids claiming NAME, e.g. a host that came back with
a new identity). Signed with the operator key, which every peer's trust store must name admin; this daemon and then
every member it reaches verify the signature themselves and drop the announcements of NAME's claimants that they
see as dead or unknown, remembering each dropped announcement's epoch for 24 h so that directory sync and gossip
do not bring it back (a restart of that peer, a newer epoch, is heard again). The remaining claimant then resolves
NAME. A live claimant is kept and, when every claimant is live, the request is refused.
  --peer ID  forget exactly this claimant, even a live one (its peer id from \`sdpeer hosts --json\`)
  --json     {"host", "forgotten": [{"peerId", "epoch", "seq"}], "kept": [{"peerId", "reason"}], "members":
             [{"peerId", "outcome": "done"|"refused"|"unreachable", "forgotten", "kept", "message"?}]}
  Exit status 1 when this daemon refuses, or when some member refused or could not be reached (it keeps its copy:
  run the command again once it is back).
${API_USAGE}`

export async function run (argv: string[], io: CliIO): Promise<number> {
  if (argv[0] === 'forget') return await runForget(argv.slice(1), io)
  const { values, positionals } = parseArgs({
    args: argv,
    options: { json: { type: 'boolean', default: false }, ...API_OPTION },
    allowPositionals: true,
    strict: true
  })
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`)
  const path = apiPath(values.api, io)
  return await withClient('hosts', path, io, async client => {
    const r = await client.call('hosts', {})
    if (values.json) {
      io.stdout.write(JSON.stringify(r) + '\n')
      return 0
    }
    if (r.self === undefined) {
      io.stdout.write('this daemon runs without a mesh\n')
      return 0
    }
    const now = Date.now()
    const rows = [['HOST', 'STATE', 'PEER', 'CAPACITY', 'LOAD', 'DRIVER', 'HEARD', 'BAD', 'ADDRESS']]
    for (const h of r.hosts) rows.push(row(h, now))
    io.stdout.write(table(rows))
    if (r.self.insecure) io.stdout.write(`this daemon (${printable(r.self.host)}) runs INSECURE: no pool key or no trust store\n`)
    for (const c of r.conflicts) io.stdout.write(`conflict: host ${printable(c.host)} is claimed by ${c.peers.join(', ')}\n`)
    return 0
  })
}

function row (h: HostEntry, now: number): string[] {
  const names = h.hostNames.length > 0 ? h.hostNames.map(printable).join(',') : '?'
  const state = h.insecure === true ? `${h.state} INSECURE` : h.state
  const capacity = h.capacity !== undefined ? `${h.capacity.memoryMb}/${h.capacity.vcpus}` : '-'
  const load = h.load !== undefined ? `${h.load.memoryMb}/${h.load.vcpus} ${h.load.domains}d` : '-'
  const heard = h.lastHeard !== undefined && h.lastHeard > 0 ? `${Math.max(0, (now - h.lastHeard) / 1000).toFixed(1)}s` : '-'
  return [names, state, shortId(h.peerId), capacity, load, printable(h.driver ?? '-'), heard, String(h.misbehaviour), printable(h.addrs[0] ?? '-')]
}

/** Peer ids are 52 characters; their tail tells them apart in a table (--json has them whole). */
function shortId (id: string): string {
  return id.length > 14 ? `…${id.slice(-12)}` : id
}
